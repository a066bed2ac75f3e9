// The image-cache controller against a real SQLite store: expired caches (and their events) go, others stay.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { imageCacheController, purgeExpiredImageCaches } from '../../src/controllers/image-caches.ts';
import { DEFAULT_CONFIG } from '../../src/core/config.ts';
import { KIND, type ImageCacheData } from '../../src/core/model.ts';
import { openStore, type SqlStore } from '../../src/store/sql-store.ts';

const REGION = 'cn-hangzhou';

async function withStore(fn: (store: SqlStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'imc-ctl-'));
  const store = await openStore(join(dir, 's.db'));
  try {
    await fn(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function insertCache(store: SqlStore, id: string, expire: string, account = 'acct'): Promise<void> {
  const data = { ImageCacheId: id, RegionId: REGION, ZoneId: '', Images: ['busybox'], RetentionDays: expire ? 1 : 0, ExpireDateTime: expire } as Partial<ImageCacheData>;
  await store.insert({ kind: KIND.imageCache, id, account, region: REGION, name: id, status: 'Ready', parent: '', createdAt: '2026-01-01T00:00:00Z', data });
  await store.tx((tx) => tx.addEvent(account, { resourceId: id, type: 'Normal', reason: 'Created', message: 'created' }, '2026-01-01T00:00:00Z'));
}

describe('image-cache controller', () => {
  it('removes expired caches with their events, across accounts, and keeps the rest', async () => {
    await withStore(async (store) => {
      await insertCache(store, 'imc-old', '2026-01-02T00:00:00Z');
      await insertCache(store, 'imc-other', '2026-01-02T12:00:00Z', 'acct2');
      await insertCache(store, 'imc-later', '2026-03-01T00:00:00Z');
      await insertCache(store, 'imc-never', '');
      const removed = await purgeExpiredImageCaches(store, new Date('2026-01-03T00:00:00Z'));
      assert.deepEqual(removed.sort(), ['imc-old', 'imc-other']);
      const left = (await store.list<ImageCacheData>({ kind: KIND.imageCache })).map((c) => c.id).sort();
      assert.deepEqual(left, ['imc-later', 'imc-never']);
      assert.deepEqual(await store.listEvents(['imc-old', 'imc-other']), []);
      assert.equal((await store.listEvents(['imc-later'])).length, 1);
      // As a controller of the server, on its timer.
      const c = imageCacheController({ store, config: DEFAULT_CONFIG });
      assert.equal(c.name, 'image-caches');
      await c.reconcile(new Date('2026-03-01T00:00:00Z'));
      assert.deepEqual((await store.list({ kind: KIND.imageCache })).map((r) => r.id), ['imc-never']);
    });
  });
});
