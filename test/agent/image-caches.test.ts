// The host agent's image-cache reconciler against a real store (SQLite) with an in-memory puller that
// records every call: the puller is a port (the real pull is tested with a real registry elsewhere).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cachedDigest, createImageCacheSync, heldOnHost, type CacheImagePuller, type CachePullOptions } from '../../src/agent/image-caches.ts';
import { ApiError } from '../../src/core/errors.ts';
import { KIND, type ImageCacheData } from '../../src/core/model.ts';
import { openStore } from '../../src/store/sql-store.ts';
import type { Resource, Store, Tx } from '../../src/store/store.ts';

const REGION = 'cn-hangzhou';
const H = 'cn-hangzhou-h';
const I = 'cn-hangzhou-i';
const HOST_A = 'host-aaaaaaaaaaaaaaaaaaaa';
const HOST_B = 'host-bbbbbbbbbbbbbbbbbbbb';
const NOW = new Date('2026-03-01T10:00:00Z');
const GIB = 1024 ** 3;

const digestOf = (image: string) => `sha256:${createHash('sha256').update(image).digest('hex')}`;

/** Records every call; `behaviour` decides each pull (default: success, 10 MiB). */
class FakePuller implements CacheImagePuller {
  readonly pulls: { image: string; opts: CachePullOptions }[] = [];
  readonly pins = new Map<string, string[]>();
  readonly pinCalls: { cacheId: string; digests: string[] }[] = [];
  readonly unpins: string[] = [];
  behaviour: (image: string) => Promise<{ digest: string; size: number }> = async (image) => ({ digest: digestOf(image), size: 10 * 1024 * 1024 });
  async pull(image: string, opts: CachePullOptions) {
    this.pulls.push({ image, opts });
    return this.behaviour(image);
  }
  pin(cacheId: string, digests: string[]) {
    this.pinCalls.push({ cacheId, digests });
    this.pins.set(cacheId, digests);
  }
  unpin(cacheId: string) {
    this.unpins.push(cacheId);
    this.pins.delete(cacheId);
  }
  pinnedCaches() {
    return [...this.pins.keys()];
  }
}

let seq = 0;
function cacheData(id: string, over: Partial<ImageCacheData> = {}): ImageCacheData {
  return {
    ImageCacheId: id, ImageCacheName: id, RegionId: REGION, ZoneId: '', Images: ['nginx:1.25', 'registry.test:5000/team/app:v1'],
    ImageRegistryCredentials: [{ Server: 'registry.test:5000', UserName: 'tester', Password: 'secret-pw' }], PlainHttpRegistries: ['registry.test:5000'],
    InsecureRegistries: [], ImageCacheSize: 20, RetentionDays: 0, ExpireDateTime: '', EliminationStrategy: '', AutoMatchImageCache: false,
    VSwitchId: '', SecurityGroupId: '', EipInstanceId: '', ResourceGroupId: '', Tags: [], CreationTime: '2026-03-01T09:00:00Z', LastMatchedTime: '',
    Progress: '0%', Generation: 1, StatusTime: '2026-03-01T09:00:00Z', Hosts: {}, ...over,
  };
}

async function insertCache(store: Store, status: string, over: Partial<ImageCacheData> = {}, region = REGION): Promise<string> {
  const id = `imc-test${String(++seq).padStart(16, 'a')}`;
  const data = cacheData(id, { RegionId: region, ...over });
  await store.tx((tx) => tx.insert({ kind: KIND.imageCache, id, account: 'alice', region, name: id, status, parent: data.ZoneId, createdAt: data.CreationTime, data }));
  return id;
}

const read = async (store: Store, id: string) => (await store.get<ImageCacheData>(KIND.imageCache, id))!;
const events = async (store: Store, id: string) => (await store.listEvents([id])).map((e) => ({ type: e.type, reason: e.reason, message: e.message }));

describe('image cache reconciler', () => {
  let dir: string;
  let store: Store;
  const logs: string[] = [];
  const agent = (puller: CacheImagePuller, hostId = HOST_A, zoneId = H, clock = () => NOW) =>
    createImageCacheSync({ store, hostId, regionId: REGION, zoneId, puller, clock, log: (l) => logs.push(l) });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'eci-imc-'));
    store = await openStore(join(dir, 's.db'));
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds a Preparing cache: Creating with progress, Pulling/Pulled events, then Ready with the host record and pins', async () => {
    const id = await insertCache(store, 'Preparing');
    const puller = new FakePuller();
    // Hold the second pull to look at the cache mid-way.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    puller.behaviour = async (image) => {
      if (image.startsWith('registry.test')) await gate;
      return { digest: digestOf(image), size: 10 * 1024 * 1024 };
    };
    const sync = agent(puller);
    const pass = sync.sync();
    for (let i = 0; i < 200 && puller.pulls.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(puller.pulls.length, 2, 'both images are pulled in order');
    assert.equal(sync.sync(), pass, 'a sync during a pass returns that pass');
    const mid = await read(store, id);
    assert.equal(mid.status, 'Creating');
    assert.equal(mid.data.Progress, '50%');
    assert.equal(mid.data.Hosts[HOST_A].Status, 'Pulling');
    assert.deepEqual(mid.data.Hosts[HOST_A].Digests, { 'nginx:1.25': digestOf('nginx:1.25') });
    release();
    await pass;

    const c = await read(store, id);
    assert.equal(c.status, 'Ready');
    assert.equal(c.data.Progress, '100%');
    assert.equal(c.data.StatusTime, '2026-03-01T10:00:00Z');
    const rec = c.data.Hosts[HOST_A];
    assert.equal(rec.Status, 'Ready');
    assert.equal(rec.Generation, 1);
    assert.equal(rec.Size, 20 * 1024 * 1024);
    assert.deepEqual(rec.Digests, { 'nginx:1.25': digestOf('nginx:1.25'), 'registry.test:5000/team/app:v1': digestOf('registry.test:5000/team/app:v1') });
    assert.ok(heldOnHost(c.data, HOST_A) && !heldOnHost(c.data, HOST_B));
    assert.equal(cachedDigest(c.data, HOST_A, 'docker.io/library/nginx:1.25'), digestOf('nginx:1.25'), 'found by canonical name');
    assert.equal(cachedDigest(c.data, HOST_B, 'nginx:1.25'), undefined, 'not held on another host');
    assert.equal(cachedDigest(c.data, HOST_A, 'nginx:1.26'), undefined);
    assert.deepEqual(puller.pins.get(id), [digestOf('nginx:1.25'), digestOf('registry.test:5000/team/app:v1')]);
    // The cache's registry settings reach the puller.
    assert.deepEqual(puller.pulls[1].opts, { credentials: [{ Server: 'registry.test:5000', UserName: 'tester', Password: 'secret-pw' }], plainHttpRegistries: ['registry.test:5000'], insecureRegistries: [] });
    const ev = await events(store, id);
    assert.deepEqual(ev.map((e) => e.reason), ['Pulling', 'Pulled', 'Pulling', 'Pulled', 'Created']);
    assert.match(ev[1].message, /Successfully pulled image "nginx:1\.25" \(sha256:[0-9a-f]{64}, 10\.0 MiB\)/);
    assert.match(ev[4].message, /ready: 2 image\(s\), 20\.0 MiB \(host host-a+\)/);

    // Converged: the next pass pulls nothing and pins nothing again.
    const before = { pulls: puller.pulls.length, pins: puller.pinCalls.length };
    await sync.sync();
    assert.deepEqual({ pulls: puller.pulls.length, pins: puller.pinCalls.length }, before);
  });

  it('a pull failure makes the cache Failed with the registry\'s message, expiring in 24 h, and is never retried', async () => {
    const id = await insertCache(store, 'Preparing', { Images: ['ok:1', 'registry.test:5000/team/denied:v1'], RetentionDays: 7, ExpireDateTime: '2026-03-08T09:00:00Z' });
    const puller = new FakePuller();
    puller.behaviour = async (image) => {
      if (image.startsWith('registry.test')) throw new Error('UNAUTHORIZED: authentication required (registry.test:5000)');
      return { digest: digestOf(image), size: 1024 };
    };
    const sync = agent(puller);
    await sync.sync();
    const c = await read(store, id);
    assert.equal(c.status, 'Failed');
    assert.equal(c.data.ExpireDateTime, '2026-03-02T10:00:00Z', 'a failed creation is kept 24 hours');
    assert.equal(c.data.Hosts[HOST_A].Status, 'Failed');
    assert.match(c.data.Hosts[HOST_A].Message, /UNAUTHORIZED: authentication required/);
    const ev = await events(store, id);
    const failed = ev.filter((e) => e.reason === 'Failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0].type, 'Warning');
    assert.match(failed[0].message, /^Failed to pull image "registry\.test:5000\/team\/denied:v1": UNAUTHORIZED: authentication required/);
    assert.equal(puller.pins.has(id), false, 'nothing of a failed cache is pinned');

    const pulls = puller.pulls.length;
    await sync.sync();
    await sync.sync();
    assert.equal(puller.pulls.length, pulls, 'no second attempt');
    // Another host of the zone does not retry a Failed cache either.
    const other = new FakePuller();
    await agent(other, HOST_B).sync();
    assert.deepEqual(other.pulls.filter((p) => ['ok:1', 'registry.test:5000/team/denied:v1'].includes(p.image)), []);
  });

  it('images larger than ImageCacheSize fail the cache with the sizes', async () => {
    const id = await insertCache(store, 'Preparing', { Images: ['big:1'], ImageCacheSize: 20 });
    const puller = new FakePuller();
    puller.behaviour = async (image) => ({ digest: digestOf(image), size: 21 * GIB });
    await agent(puller).sync();
    const c = await read(store, id);
    assert.equal(c.status, 'Failed');
    assert.match(c.data.Hosts[HOST_A].Message, /total 21\.00 GiB, more than the image cache size of 20 GiB/);
    assert.equal(puller.pins.has(id), false);
  });

  it('only caches of its region and of its zone (or of no zone) are built here', async () => {
    const anyZone = await insertCache(store, 'Preparing', { Images: ['z:any'] });
    const myZone = await insertCache(store, 'Preparing', { Images: ['z:h'], ZoneId: H });
    const otherZone = await insertCache(store, 'Preparing', { Images: ['z:i'], ZoneId: I });
    const otherRegion = await insertCache(store, 'Preparing', { Images: ['z:bj'] }, 'cn-beijing');
    const puller = new FakePuller();
    await agent(puller).sync();
    const pulled = new Set(puller.pulls.map((p) => p.image));
    assert.ok(pulled.has('z:any') && pulled.has('z:h'));
    assert.ok(!pulled.has('z:i') && !pulled.has('z:bj'));
    assert.equal((await read(store, anyZone)).status, 'Ready');
    assert.equal((await read(store, myZone)).status, 'Ready');
    assert.equal((await read(store, otherZone)).status, 'Preparing');
    assert.equal((await read(store, otherRegion)).status, 'Preparing');
  });

  it('a deleted or expired cache is unpinned; a restarted agent pins again what it holds without pulling', async () => {
    const kept = await insertCache(store, 'Preparing', { Images: ['keep:1'] });
    const deleted = await insertCache(store, 'Preparing', { Images: ['gone:1'] });
    const expiring = await insertCache(store, 'Preparing', { Images: ['old:1'], RetentionDays: 1, ExpireDateTime: '2026-03-02T09:00:00Z' });
    const puller = new FakePuller();
    let now = NOW;
    const sync = agent(puller, HOST_A, H, () => now);
    await sync.sync();
    for (const id of [kept, deleted, expiring]) assert.ok(puller.pins.has(id), `${id} pinned`);

    await store.tx((tx) => tx.delete(KIND.imageCache, deleted));
    now = new Date('2026-03-02T09:00:01Z');
    await sync.sync();
    assert.ok(puller.unpins.includes(deleted), 'a deleted cache is released');
    assert.ok(puller.unpins.includes(expiring), 'an expired cache is released');
    assert.ok(!puller.unpins.includes(kept));
    assert.ok(puller.pins.has(kept));

    // A new agent process (empty puller state): the store says this host holds `kept`; pin it again.
    const fresh = new FakePuller();
    await agent(fresh, HOST_A, H, () => now).sync();
    assert.deepEqual(fresh.pins.get(kept), [digestOf('keep:1')]);
    assert.ok(!fresh.pulls.some((p) => p.image === 'keep:1'), 'no pull for what the host holds');
  });

  it('a second host of the zone also pulls a Ready cache without changing its status', async () => {
    const id = await insertCache(store, 'Preparing', { Images: ['shared:1'] });
    await agent(new FakePuller(), HOST_A).sync();
    const b = new FakePuller();
    await agent(b, HOST_B).sync();
    assert.deepEqual(b.pulls.filter((p) => p.image === 'shared:1').length, 1);
    const c = await read(store, id);
    assert.equal(c.status, 'Ready');
    assert.equal(c.data.Hosts[HOST_A].Status, 'Ready');
    assert.equal(c.data.Hosts[HOST_B].Status, 'Ready');
    assert.deepEqual((await events(store, id)).filter((e) => e.reason === 'Created').length, 1, 'created once');
  });

  it('UpdateImageCache: a new generation is pulled (Updating → Ready, pins replaced); a failed update is UpdateFailed and keeps the old pins', async () => {
    const id = await insertCache(store, 'Preparing', { Images: ['app:1'] });
    const puller = new FakePuller();
    const sync = agent(puller);
    await sync.sync();
    assert.deepEqual(puller.pins.get(id), [digestOf('app:1')]);

    const bump = async (images: string[]) =>
      store.tx(async (tx) => {
        const c = (await tx.get<ImageCacheData>(KIND.imageCache, id))!;
        c.status = 'Updating';
        c.data = { ...c.data, Images: images, Generation: c.data.Generation + 1, Progress: '0%' };
        await tx.update(c);
      });
    await bump(['app:2']);
    await sync.sync();
    let c = await read(store, id);
    assert.equal(c.status, 'Ready');
    assert.equal(c.data.Hosts[HOST_A].Generation, 2);
    assert.deepEqual(puller.pins.get(id), [digestOf('app:2')]);
    assert.equal((await events(store, id)).at(-1)!.reason, 'Updated');

    await bump(['app:3']);
    puller.behaviour = async () => {
      throw new Error('MANIFEST_UNKNOWN: manifest unknown');
    };
    await sync.sync();
    c = await read(store, id);
    assert.equal(c.status, 'UpdateFailed');
    assert.equal(c.data.ExpireDateTime, '', 'only a failed creation expires after 24 h');
    assert.deepEqual(puller.pins.get(id), [digestOf('app:2')], 'the last good generation stays pinned');
    const pulls = puller.pulls.length;
    await sync.sync();
    assert.equal(puller.pulls.length, pulls, 'a failed update is not retried');
  });

  it('writes re-read the row, so a concurrent change survives, and a cache deleted mid-pull leaves no pin', async () => {
    const id = await insertCache(store, 'Preparing', { Images: ['race:1'] });
    const puller = new FakePuller();
    puller.behaviour = async (image) => {
      // An API call (CreateContainerGroup setting LastMatchedTime…) writes the row while the pull runs.
      await store.tx(async (tx) => {
        const c = (await tx.get<ImageCacheData>(KIND.imageCache, id))!;
        c.data = { ...c.data, LastMatchedTime: '2026-03-01T09:59:59Z' };
        await tx.update(c);
      });
      return { digest: digestOf(image), size: 1 };
    };
    await agent(puller).sync();
    const c = await read(store, id);
    assert.equal(c.status, 'Ready');
    assert.equal(c.data.LastMatchedTime, '2026-03-01T09:59:59Z', 'the concurrent change is kept');

    const doomed = await insertCache(store, 'Preparing', { Images: ['doomed:1'] });
    const p2 = new FakePuller();
    p2.behaviour = async (image) => {
      await store.tx((tx) => tx.delete(KIND.imageCache, doomed));
      return { digest: digestOf(image), size: 1 };
    };
    await agent(p2).sync();
    assert.equal(p2.pins.has(doomed), false);
    assert.equal(await store.get(KIND.imageCache, doomed), undefined);
  });

  it('an OperationConflict (another server or host wrote first) is retried with fresh reads', async () => {
    const id = await insertCache(store, 'Preparing', { Images: ['conflict:1'] });
    // The store as seen by an agent whose every other row update loses a race.
    let updates = 0;
    let conflicts = 0;
    const racy = new Proxy(store, {
      get(target, prop, recv) {
        if (prop !== 'tx') return Reflect.get(target, prop, recv);
        return <T>(fn: (tx: Tx) => Promise<T>, lockKey?: string) =>
          target.tx((tx) => {
            const wrapped = new Proxy(tx, {
              get(t, q, r) {
                if (q !== 'update') return Reflect.get(t, q, r);
                return async (row: Resource<unknown>) => {
                  if (++updates % 2 === 1) {
                    conflicts++;
                    throw new ApiError('Conflict', 'OperationConflict', `The resource ${row.id} was changed by another request; retry.`);
                  }
                  return t.update(row);
                };
              },
            });
            return fn(wrapped);
          }, lockKey);
      },
    });
    const puller = new FakePuller();
    await createImageCacheSync({ store: racy, hostId: HOST_A, regionId: REGION, zoneId: H, puller, clock: () => NOW }).sync();
    assert.ok(conflicts >= 3, `conflicts were injected (${conflicts})`);
    const c = await read(store, id);
    assert.equal(c.status, 'Ready');
    assert.deepEqual((await events(store, id)).map((e) => e.reason), ['Pulling', 'Pulled', 'Created'], 'each write lands once');
  });

  it('an interrupted build (record left Pulling by a crash) is resumed', async () => {
    const id = await insertCache(store, 'Creating', {
      Images: ['resume:1'],
      Hosts: { [HOST_A]: { Generation: 1, Status: 'Pulling', Digests: {}, Size: 0, Message: '', Time: '2026-03-01T09:30:00Z' } },
    });
    const puller = new FakePuller();
    await agent(puller).sync();
    assert.deepEqual(puller.pulls.map((p) => p.image), ['resume:1']);
    assert.equal((await read(store, id) as Resource<ImageCacheData>).status, 'Ready');
  });
});
