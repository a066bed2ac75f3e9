// The Store contract: one suite, run against node:sqlite and a real PostgreSQL (a throw-away cluster
// from test/helpers/postgres.ts). Every case opens a fresh database.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { ApiError } from '../../src/core/errors.ts';
import { PostgresDriver } from '../../src/store/postgres.ts';
import { SqliteDriver } from '../../src/store/sqlite.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { SqlStore } from '../../src/store/sql-store.ts';
import type { SqlDriver } from '../../src/store/driver.ts';
import type { NewResource, Resource } from '../../src/store/store.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';

interface Backend {
  /** A fresh, empty database. */
  fresh(): string;
  driver(url: string): SqlDriver;
}

let created = 0;

function row(id: string, over: Partial<NewResource<Record<string, unknown>>> = {}): NewResource<Record<string, unknown>> {
  return {
    kind: 'vpc',
    id,
    account: 'alice',
    region: 'cn-hangzhou',
    name: `name-${id}`,
    status: 'Available',
    parent: '',
    createdAt: '2024-01-02T03:04:05Z',
    data: { id, nested: { list: [1, 'two', null], unicode: 'héllo ✓' } },
    ...over,
  };
}

const ids = (rows: readonly Resource[]) => rows.map((r) => r.id);

function contract(dialect: 'sqlite' | 'postgres', backend: () => Backend): void {
  /** Opens a store on a fresh database; closed when the test ends. */
  async function open(t: TestContext, url = backend().fresh()): Promise<{ store: SqlStore; driver: SqlDriver; url: string }> {
    const driver = backend().driver(url);
    const store = await SqlStore.open(driver);
    t.after(() => store.close());
    return { store, driver, url };
  }

  describe(`Store contract on ${dialect}`, () => {
    it('reports its dialect', async (t) => {
      const { store } = await open(t);
      assert.equal(store.dialect, dialect);
    });

    it('inserts and gets rows, data round-tripping exactly', async (t) => {
      const { store } = await open(t);
      const a = await store.insert(row('vpc-a'));
      assert.equal(a.version, 1);
      assert.ok(Number.isInteger(a.seq) && a.seq > 0);
      const b = await store.insert(row('vpc-b', { name: 'b', status: 'Pending', parent: 'x' }));
      assert.ok(b.seq > a.seq, 'seq grows with insertion order');
      const got = await store.get('vpc', 'vpc-a');
      assert.deepEqual(got, a);
      assert.deepEqual(got!.data, { id: 'vpc-a', nested: { list: [1, 'two', null], unicode: 'héllo ✓' } });
      assert.equal(await store.get('vpc', 'nope'), undefined);
      assert.equal(await store.get('eip', 'vpc-a'), undefined, 'a row is found under its own kind only');
      await assert.rejects(store.insert(row('vpc-a')), 'ids are unique');
    });

    it('lists with each filter, in seq order', async (t) => {
      const { store } = await open(t);
      const rows = [
        row('r1'),
        row('r2', { account: 'bob' }),
        row('r3', { region: 'cn-beijing' }),
        row('r4', { name: 'web' }),
        row('r5', { status: 'Pending' }),
        row('r6', { parent: 'vpc-p' }),
        row('r7', { kind: 'vsw', parent: 'vpc-p' }),
        row('r8', { name: 'web', status: 'Pending', parent: 'vpc-p' }),
      ];
      for (const r of rows) await store.insert(r);
      assert.deepEqual(ids(await store.list({ kind: 'vpc' })), ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r8']);
      assert.deepEqual(ids(await store.list({ kind: 'vsw' })), ['r7']);
      assert.deepEqual(ids(await store.list({ kind: 'nothing' })), []);
      assert.deepEqual(ids(await store.list({ kind: 'vpc', account: 'bob' })), ['r2']);
      assert.deepEqual(ids(await store.list({ kind: 'vpc', region: 'cn-beijing' })), ['r3']);
      assert.deepEqual(ids(await store.list({ kind: 'vpc', name: 'web' })), ['r4', 'r8']);
      assert.deepEqual(ids(await store.list({ kind: 'vpc', status: 'Pending' })), ['r5', 'r8']);
      assert.deepEqual(ids(await store.list({ kind: 'vpc', parent: 'vpc-p' })), ['r6', 'r8']);
      assert.deepEqual(ids(await store.list({ kind: 'vpc', parent: '' })), ['r1', 'r2', 'r3', 'r4', 'r5']);
      assert.deepEqual(ids(await store.list({ kind: 'vpc', ids: ['r8', 'r1', 'r7', 'missing'] })), ['r1', 'r8']);
      assert.deepEqual(ids(await store.list({ kind: 'vpc', ids: [] })), [], 'an empty id list matches nothing');
      assert.deepEqual(ids(await store.list({ kind: 'vpc', account: 'alice', name: 'web', status: 'Pending', parent: 'vpc-p', region: 'cn-hangzhou' })), ['r8']);
      assert.deepEqual(ids(await store.list({ kind: 'vpc', limit: 3 })), ['r1', 'r2', 'r3']);
      assert.deepEqual(ids(await store.list({ kind: 'vpc', limit: 0 })), []);
    });

    it('pages with afterSeq + limit (keyset) and counts with filters', async (t) => {
      const { store } = await open(t);
      const inserted: Resource[] = [];
      for (let i = 0; i < 11; i++) inserted.push(await store.insert(row(`p${i}`, { status: i % 3 === 0 ? 'Pending' : 'Available' })));
      // A row deleted mid-way must not disturb the cursor.
      await store.delete('vpc', 'p5');
      const seen: Resource[] = [];
      let cursor = 0;
      for (let pages = 0; pages < 20; pages++) {
        const page = await store.list<Record<string, unknown>>({ kind: 'vpc', afterSeq: cursor, limit: 4 });
        if (page.length === 0) break;
        assert.ok(page.length <= 4);
        seen.push(...page);
        cursor = page[page.length - 1].seq;
      }
      assert.deepEqual(ids(seen), ids(inserted).filter((id) => id !== 'p5'));
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i].seq > seen[i - 1].seq, 'strictly ascending seq');
      assert.deepEqual(ids(await store.list({ kind: 'vpc', status: 'Pending', afterSeq: inserted[3].seq })), ['p6', 'p9']);
      assert.equal(await store.count({ kind: 'vpc' }), 10);
      assert.equal(await store.count({ kind: 'vpc', status: 'Pending' }), 4);
      assert.equal(await store.count({ kind: 'vpc', account: 'bob' }), 0);
      assert.equal(await store.count({ kind: 'vpc', ids: ['p1', 'p2', 'p5'] }), 2);
      assert.equal(await store.count({ kind: 'vpc', ids: [] }), 0);
    });

    it('updates with an optimistic version check', async (t) => {
      const { store } = await open(t);
      const a = await store.insert(row('u1'));
      const stale = await store.get('vpc', 'u1');
      const fresh = await store.get('vpc', 'u1');
      fresh!.name = 'renamed';
      fresh!.status = 'Deleting';
      fresh!.parent = 'vpc-x';
      fresh!.data = { changed: true };
      const updated = await store.update(fresh!);
      assert.equal(updated.version, 2);
      assert.deepEqual(await store.get('vpc', 'u1'), { ...a, name: 'renamed', status: 'Deleting', parent: 'vpc-x', data: { changed: true }, version: 2 });
      assert.equal((await store.list({ kind: 'vpc', parent: 'vpc-x' }))[0].id, 'u1', 'indexed columns follow the update');
      stale!.name = 'lost update';
      const e = await store.update(stale!).then(() => undefined, (x: unknown) => x);
      assert.ok(e instanceof ApiError, `expected an ApiError, got ${e}`);
      assert.equal(e.kind, 'Conflict');
      assert.equal(e.code, 'OperationConflict');
      assert.equal((await store.get('vpc', 'u1'))!.name, 'renamed', 'the stale write changed nothing');
      assert.equal((await store.update(updated)).version, 3, 'the version returned by update is current');
      await store.delete('vpc', 'u1');
      const gone = await store.update({ ...updated, version: 3 }).then(() => undefined, (x: unknown) => x);
      assert.ok(gone instanceof ApiError && gone.code === 'OperationConflict', 'updating a deleted row is a conflict');
    });

    it('deletes idempotently, under the row\'s own kind only', async (t) => {
      const { store } = await open(t);
      await store.insert(row('d1'));
      await store.delete('eip', 'd1');
      assert.ok(await store.get('vpc', 'd1'), 'another kind\'s delete leaves the row');
      await store.delete('vpc', 'd1');
      await store.delete('vpc', 'd1');
      await store.delete('vpc', 'never-existed');
      assert.equal(await store.get('vpc', 'd1'), undefined);
      assert.equal(await store.count({ kind: 'vpc' }), 0);
    });

    it('commits a transaction\'s writes together and rolls all of them back on a throw', async (t) => {
      const { store } = await open(t);
      await store.insert(row('keep'));
      const value = await store.tx(async (tx) => {
        await tx.insert(row('t1'));
        assert.ok(await tx.get('vpc', 't1'), 'a transaction reads its own writes');
        return 42;
      });
      assert.equal(value, 42);
      assert.ok(await store.get('vpc', 't1'));

      const boom = new Error('boom');
      await assert.rejects(
        store.tx(async (tx) => {
          await tx.insert(row('t2'));
          const keep = await tx.get('vpc', 'keep');
          keep!.name = 'changed';
          await tx.update(keep!);
          await tx.delete('vpc', 't1');
          assert.equal(await tx.allocateIp('s', [{ first: 1, last: 9 }], 't2'), 1);
          await tx.putIdempotency('alice', 'CreateVpc', 'tok', { paramsHash: 'h', response: '{}' }, '2024-01-01T00:00:00Z');
          await tx.addEvent('alice', { resourceId: 't2', type: 'Normal', reason: 'Created', message: 'm' }, '2024-01-01T00:00:00Z');
          throw boom;
        }),
        (e) => e === boom,
      );
      assert.equal(await store.get('vpc', 't2'), undefined);
      assert.equal((await store.get('vpc', 'keep'))!.name, 'name-keep');
      assert.equal((await store.get('vpc', 'keep'))!.version, 1);
      assert.ok(await store.get('vpc', 't1'), 'the rolled-back delete did not happen');
      assert.equal(await store.countIps('s'), 0);
      assert.equal(await store.getIdempotency('alice', 'CreateVpc', 'tok'), undefined);
      assert.deepEqual(await store.listEvents(['t2']), []);
      // An ApiError thrown by a handler reaches the caller unchanged, and the store stays usable.
      await assert.rejects(store.tx(async () => { throw new ApiError('Conflict', 'X', 'y'); }), (e) => e instanceof ApiError && e.code === 'X');
      assert.equal(await store.tx(async (tx) => tx.count({ kind: 'vpc' })), 2);
    });

    it('neither shows an open transaction\'s writes outside it nor rolls back other writes with it', async (t) => {
      const { store } = await open(t);
      let inserted!: () => void;
      const insertedP = new Promise<void>((r) => (inserted = r));
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const running = store.tx(async (tx) => {
        await tx.insert(row('uncommitted'));
        inserted();
        await gate;
        throw new Error('roll back');
      });
      await insertedP;
      const read = store.get('vpc', 'uncommitted');
      const counted = store.count({ kind: 'vpc' });
      const nonce = store.useNonce('outside', 1000, 1000);
      const key = store.putAccessKey({ accessKeyId: 'LTAIoutside', accessKeySecret: 's', account: 'alice' });
      release();
      await assert.rejects(running, /roll back/);
      assert.equal(await read, undefined);
      assert.equal(await counted, 0);
      assert.equal(await nonce, true);
      await key;
      assert.equal(await store.useNonce('outside', 1500, 1000), false, 'the nonce written beside the transaction stayed');
      assert.ok(await store.getAccessKey('LTAIoutside'));
      assert.equal(await store.get('vpc', 'uncommitted'), undefined);
    });

    it('allocates the lowest free address, reuses gaps, honours or refuses a wanted one', async (t) => {
      const { store } = await open(t);
      const range = [{ first: 100, last: 104 }];
      assert.equal(await store.allocateIp('sw', range, 'o1'), 100);
      assert.equal(await store.allocateIp('sw', range, 'o2'), 101);
      assert.equal(await store.allocateIp('sw', range, 'o3'), 102);
      await store.releaseIp('sw', 101);
      await store.releaseIp('sw', 101);
      assert.equal(await store.ipOwner('sw', 101), undefined);
      assert.equal(await store.allocateIp('sw', range, 'o4'), 101, 'a released address is reused first');
      assert.equal(await store.allocateIp('sw', range, 'o5', 102), undefined, 'a wanted address that is taken is refused');
      assert.equal(await store.allocateIp('sw', range, 'o5', 105), undefined, 'a wanted address out of range is refused');
      assert.equal(await store.allocateIp('sw', range, 'o5', 99), undefined);
      assert.equal(await store.allocateIp('sw', range, 'o5', 104), 104);
      assert.equal(await store.allocateIp('sw', range, 'o6'), 103, 'the lowest free one below a wanted one');
      assert.equal(await store.allocateIp('sw', range, 'o7'), undefined, 'exhausted');
      assert.equal(await store.countIps('sw'), 5);
      assert.equal(await store.ipOwner('sw', 100), 'o1');
      assert.equal(await store.ipOwner('sw', 101), 'o4');
      assert.equal(await store.ipOwner('sw', 104), 'o5');
      assert.equal(await store.ipOwner('sw', 103), 'o6');
      assert.equal(await store.ipOwner('other', 100), undefined);
      // Scopes are independent: the same address is free in another vSwitch.
      assert.equal(await store.allocateIp('other', range, 'x'), 100);
      assert.equal(await store.countIps('other'), 1);
      assert.equal(await store.countIps('empty'), 0);
      // A gap inside a run of allocations, and a wanted address that is free.
      const big = [{ first: 3232235777, last: 3232236030 }]; // 192.168.1.1 – 192.168.1.254
      assert.equal(await store.allocateIp('big', big, 'a', 3232235780), 3232235780);
      const got: number[] = [];
      for (let i = 0; i < 4; i++) got.push((await store.allocateIp('big', big, `b${i}`))!);
      assert.deepEqual(got, [3232235777, 3232235778, 3232235779, 3232235781]);
    });

    it('allocates across several ranges in order and reports exhaustion', async (t) => {
      const { store } = await open(t);
      const ranges = [{ first: 10, last: 11 }, { first: 20, last: 20 }, { first: 30, last: 31 }];
      const got: (number | undefined)[] = [];
      for (let i = 0; i < 6; i++) got.push(await store.allocateIp('multi', ranges, `o${i}`));
      assert.deepEqual(got, [10, 11, 20, 30, 31, undefined]);
      assert.equal(await store.allocateIp('multi', ranges, 'w', 25), undefined, 'between ranges is out of range');
      await store.releaseIp('multi', 20);
      assert.equal(await store.allocateIp('multi', ranges, 'again'), 20);
      await store.releaseIp('multi', 31);
      assert.equal(await store.allocateIp('multi', ranges, 'wanted', 31), 31);
      assert.equal(await store.ipOwner('multi', 31), 'wanted');
      assert.equal(await store.allocateIp('multi', [], 'none'), undefined);
    });

    it('keeps idempotency records per account, action and token, first writer wins', async (t) => {
      const { store } = await open(t);
      assert.equal(await store.getIdempotency('alice', 'CreateVpc', 't1'), undefined);
      await store.putIdempotency('alice', 'CreateVpc', 't1', { paramsHash: 'h1', response: '{"VpcId":"vpc-1"}' }, '2024-01-01T00:00:00Z');
      assert.deepEqual(await store.getIdempotency('alice', 'CreateVpc', 't1'), { paramsHash: 'h1', response: '{"VpcId":"vpc-1"}' });
      await store.putIdempotency('alice', 'CreateVpc', 't1', { paramsHash: 'h2', response: '{}' }, '2024-01-01T00:00:01Z');
      assert.deepEqual(await store.getIdempotency('alice', 'CreateVpc', 't1'), { paramsHash: 'h1', response: '{"VpcId":"vpc-1"}' });
      assert.equal(await store.getIdempotency('bob', 'CreateVpc', 't1'), undefined);
      assert.equal(await store.getIdempotency('alice', 'DeleteVpc', 't1'), undefined);
      assert.equal(await store.getIdempotency('alice', 'CreateVpc', 'T1'), undefined, 'tokens are case-sensitive');
    });

    it('records events, bumping a repeated one, listing by ids and afterSeq, deleting per resource', async (t) => {
      const { store } = await open(t);
      const ev = (resourceId: string, reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal') => ({ resourceId, type, reason, message });
      await store.addEvent('alice', ev('eci-1', 'Scheduled', 'placed'), '2024-01-01T00:00:00Z');
      await store.addEvent('alice', ev('eci-1', 'Scheduled', 'placed'), '2024-01-01T00:00:05Z');
      await store.addEvent('alice', ev('eci-1', 'Scheduled', 'placed'), '2024-01-01T00:00:09Z');
      await store.addEvent('alice', ev('eci-2', 'Failed', 'boom', 'Warning'), '2024-01-01T00:00:10Z');
      await store.addEvent('alice', ev('eci-1', 'Pulling', 'image'), '2024-01-01T00:00:11Z');
      await store.addEvent('alice', ev('eci-1', 'Scheduled', 'other message'), '2024-01-01T00:00:12Z');
      // Only the latest event of a resource is bumped: an earlier repeat starts a new one.
      await store.addEvent('alice', ev('eci-1', 'Pulling', 'image'), '2024-01-01T00:00:13Z');
      const all = await store.listEvents(['eci-1', 'eci-2']);
      assert.deepEqual(
        all.map((e) => [e.resourceId, e.type, e.reason, e.message, e.count, e.firstTimestamp, e.lastTimestamp]),
        [
          ['eci-1', 'Normal', 'Scheduled', 'placed', 3, '2024-01-01T00:00:00Z', '2024-01-01T00:00:09Z'],
          ['eci-2', 'Warning', 'Failed', 'boom', 1, '2024-01-01T00:00:10Z', '2024-01-01T00:00:10Z'],
          ['eci-1', 'Normal', 'Pulling', 'image', 1, '2024-01-01T00:00:11Z', '2024-01-01T00:00:11Z'],
          ['eci-1', 'Normal', 'Scheduled', 'other message', 1, '2024-01-01T00:00:12Z', '2024-01-01T00:00:12Z'],
          ['eci-1', 'Normal', 'Pulling', 'image', 1, '2024-01-01T00:00:13Z', '2024-01-01T00:00:13Z'],
        ],
      );
      for (let i = 1; i < all.length; i++) assert.ok(all[i].seq > all[i - 1].seq);
      assert.deepEqual((await store.listEvents(['eci-2'])).map((e) => e.reason), ['Failed']);
      assert.deepEqual(await store.listEvents([]), []);
      assert.deepEqual(await store.listEvents(['eci-9']), []);
      assert.deepEqual((await store.listEvents(['eci-1', 'eci-2'], all[1].seq)).map((e) => e.seq), all.slice(2).map((e) => e.seq));
      assert.deepEqual((await store.listEvents(['eci-1', 'eci-2'], 0, 2)).map((e) => e.seq), all.slice(0, 2).map((e) => e.seq));
      await store.deleteEvents('eci-1');
      await store.deleteEvents('eci-1');
      assert.deepEqual((await store.listEvents(['eci-1', 'eci-2'])).map((e) => e.resourceId), ['eci-2']);
    });

    it('writes a new resource\'s events with it (put), in order, counting repeats; none with a refused insert', async (t) => {
      const { store } = await open(t);
      const created = row('eci-put', { kind: 'containerGroup', createdAt: '2024-01-02T00:00:00Z' });
      const events = [
        { type: 'Normal' as const, reason: 'SuccessfulAssignIp', message: 'ip' },
        { type: 'Warning' as const, reason: 'ImageCacheMissed', message: 'none' },
        { type: 'Warning' as const, reason: 'ImageCacheMissed', message: 'none' },
        { type: 'Normal' as const, reason: 'Scheduling', message: 'waiting' },
      ];
      await store.tx((tx) => tx.put(created, undefined, events));
      const stored = await store.listEvents(['eci-put']);
      assert.deepEqual(
        stored.map((e) => [e.resourceId, e.type, e.reason, e.message, e.count, e.firstTimestamp, e.lastTimestamp]),
        [
          ['eci-put', 'Normal', 'SuccessfulAssignIp', 'ip', 1, '2024-01-02T00:00:00Z', '2024-01-02T00:00:00Z'],
          ['eci-put', 'Warning', 'ImageCacheMissed', 'none', 2, '2024-01-02T00:00:00Z', '2024-01-02T00:00:00Z'],
          ['eci-put', 'Normal', 'Scheduling', 'waiting', 1, '2024-01-02T00:00:00Z', '2024-01-02T00:00:00Z'],
        ],
      );
      for (let i = 1; i < stored.length; i++) assert.ok(stored[i].seq > stored[i - 1].seq);
      assert.equal((await store.get('containerGroup', 'eci-put'))?.name, 'name-eci-put');
      // Outside a transaction too, and a capped put that is refused leaves no event behind.
      await store.put(row('eci-put2', { kind: 'containerGroup' }), undefined, events.slice(0, 1));
      assert.deepEqual((await store.listEvents(['eci-put2'])).map((e) => e.reason), ['SuccessfulAssignIp']);
      const cap = { max: 2, exceeded: () => new ApiError('QuotaExceeded', 'QuotaExceeded.ContainerGroup', 'full') };
      await assert.rejects(store.tx((tx) => tx.put(row('eci-put3', { kind: 'containerGroup' }), cap, events)), (e: unknown) => e instanceof ApiError && e.code === 'QuotaExceeded.ContainerGroup');
      assert.deepEqual(await store.listEvents(['eci-put3']), []);
      assert.equal(await store.get('containerGroup', 'eci-put3'), undefined);
    });

    it('accepts a nonce once until it expires', async (t) => {
      const { store } = await open(t);
      const now = 1_700_000_000_000;
      assert.equal(await store.useNonce('n1', now, 60_000), true);
      assert.equal(await store.useNonce('n1', now + 1, 60_000), false);
      assert.equal(await store.useNonce('n1', now + 59_999, 60_000), false);
      assert.equal(await store.useNonce('n2', now, 60_000), true, 'another nonce is independent');
      assert.equal(await store.useNonce('n1', now + 60_001, 60_000), true, 'reusable once expired');
      assert.equal(await store.useNonce('n1', now + 60_002, 60_000), false, 'and then remembered again');
    });

    it('claims a nonce inside a transaction, undone by its rollback; queued nonces are written behind', async (t) => {
      const { store } = await open(t);
      const now = 1_700_000_000_000;
      assert.equal(await store.tx((tx) => tx.claimNonce('w1', now, now + 60_000)), true);
      assert.equal(await store.tx((tx) => tx.claimNonce('w1', now + 1, now + 60_001)), false, 'a committed claim holds');
      assert.equal(await store.useNonce('w1', now + 2, 60_000), false, 'for the durable check of reads too');
      await assert.rejects(store.tx(async (tx) => {
        assert.equal(await tx.claimNonce('w2', now, now + 60_000), true);
        throw new Error('roll back');
      }), /roll back/);
      assert.equal(await store.tx((tx) => tx.claimNonce('w2', now, now + 60_000)), true, 'a rolled-back claim is gone');
      assert.equal(await store.tx((tx) => tx.claimNonce('w1', now + 60_001, now + 120_001)), true, 'an expired nonce may be claimed again');

      store.recordNonceLater('r1', now + 60_000);
      store.recordNonceLater('r2', now + 30_000);
      store.recordNonceLater('w1', now + 10_000);
      store.recordNonceLater('r3', now + 60_000);
      await store.flushNonces();
      assert.equal(await store.useNonce('r1', now + 1, 59_999), false, 'written behind: the same request (same expiry) is a replay');
      assert.equal(await store.useNonce('r3', now + 1, 60_000), true, 'kept by expiry: another request with the nonce is not found');
      const live = new Map((await store.liveNonces(now + 40_000, 100)).map((n) => [n.nonce, n.expiresAt]));
      assert.equal(live.get('r1'), now + 60_000);
      assert.equal(live.has('r2'), false, 'expired ones are not loaded');
      assert.equal(live.get('w1'), now + 120_001, 'the later expiry is kept');
      assert.equal(live.get('r3'), now + 60_001);
      assert.equal((await store.liveNonces(now, 1)).length, 1, 'bounded');
    });

    it('stores access keys without overwriting an existing one', async (t) => {
      const { store } = await open(t);
      assert.equal(await store.getAccessKey('LTAIb'), undefined);
      assert.deepEqual(await store.listAccessKeys(), []);
      await store.putAccessKey({ accessKeyId: 'LTAIb', accessKeySecret: 'sb', account: 'bob' });
      await store.putAccessKey({ accessKeyId: 'LTAIa', accessKeySecret: 'sa', account: 'alice' });
      await store.putAccessKey({ accessKeyId: 'LTAIa', accessKeySecret: 'other', account: 'mallory' });
      assert.deepEqual(await store.getAccessKey('LTAIa'), { accessKeyId: 'LTAIa', accessKeySecret: 'sa', account: 'alice' });
      assert.deepEqual(await store.listAccessKeys(), [
        { accessKeyId: 'LTAIa', accessKeySecret: 'sa', account: 'alice' },
        { accessKeyId: 'LTAIb', accessKeySecret: 'sb', account: 'bob' },
      ]);
    });

    it('applies migrations once: re-opening is a no-op and keeps the data', async (t) => {
      const first = await open(t);
      await first.store.insert(row('survivor'));
      await first.store.allocateIp('sw', [{ first: 1, last: 5 }], 'survivor');
      const versions = async (d: SqlDriver) => (await d.query('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version));
      assert.deepEqual(await versions(first.driver), MIGRATIONS.map((m) => m.version));
      const second = await open(t, first.url);
      assert.deepEqual(await versions(second.driver), MIGRATIONS.map((m) => m.version));
      assert.ok(await second.store.get('vpc', 'survivor'));
      assert.equal(await second.store.ipOwner('sw', 1), 'survivor');
      const third = await open(t, first.url);
      assert.deepEqual(await versions(third.driver), MIGRATIONS.map((m) => m.version));
    });

    it('gives 200 concurrent allocations on one scope 200 distinct addresses', async (t) => {
      // On PostgreSQL, two stores (two servers) with their own pools race through the ON CONFLICT retry.
      const a = await open(t);
      const b = dialect === 'postgres' ? (await open(t, a.url)).store : a.store;
      const range = [{ first: 5000, last: 5999 }];
      const got = await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 ? b : a.store).tx((tx) => tx.allocateIp('hot', range, `owner-${i}`))),
      );
      assert.ok(got.every((ip) => ip !== undefined));
      assert.equal(new Set(got).size, 200);
      // Nothing was skipped: lowest-free allocation with no releases fills the bottom of the range.
      assert.deepEqual([...got].sort((x, y) => x! - y!), Array.from({ length: 200 }, (_, i) => 5000 + i));
      assert.equal(await a.store.countIps('hot'), 200);
      for (const i of [0, 57, 199]) assert.equal(await b.ipOwner('hot', got[i]!), `owner-${i}`);
      // Outside transactions no lock queues them: lost races go through the ON CONFLICT retry.
      const more = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? b : a.store).allocateIp('hot', range, `more-${i}`)));
      assert.deepEqual([...more].sort((x, y) => x! - y!), Array.from({ length: 50 }, (_, i) => 5200 + i));
      assert.equal(await b.countIps('hot'), 250);
    });

    // The second key takes the PostgreSQL driver's slow path (a backslash), the third the quoted literal.
    for (const lockKey of ['account:alice', "account:o'b\\r", "account:o'brien'); SELECT 1; --"]) {
      it(`serialises transactions sharing a lock key, so a check-then-act quota holds (${lockKey})`, async (t) => {
        const a = await open(t);
        const b = dialect === 'postgres' ? (await open(t, a.url)).store : a.store;
        const results = await Promise.allSettled(
          Array.from({ length: 40 }, (_, i) =>
            (i % 2 ? b : a.store).tx(async (tx) => {
              if ((await tx.count({ kind: 'eip', account: 'alice' })) >= 15) throw new ApiError('QuotaExceeded', 'QuotaExceeded.Eip', 'full');
              await tx.insert(row(`q${i}`, { kind: 'eip' }));
            }, lockKey),
          ),
        );
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 15);
        assert.ok(results.every((r) => r.status === 'fulfilled' || (r.reason as ApiError).code === 'QuotaExceeded.Eip'));
        assert.equal(await a.store.count({ kind: 'eip', account: 'alice' }), 15);
      });
    }

    it('caps a count exactly at the insert, inserted or put, among transactions sharing a lock', async (t) => {
      const a = await open(t);
      const b = dialect === 'postgres' ? (await open(t, a.url)).store : a.store;
      const cap = { max: 7, exceeded: () => new ApiError('QuotaExceeded', 'QuotaExceeded.Eip', 'full') };
      const full = (e: unknown) => e instanceof ApiError && e.code === 'QuotaExceeded.Eip';
      // Shared holders of one key do not exclude each other: only the cap keeps the count.
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) =>
          (i % 2 ? b : a.store).tx(async (tx) => {
            if (i % 3) await tx.put(row(`c${i}`, { kind: 'eip' }), cap);
            else await tx.insert(row(`c${i}`, { kind: 'eip' }), cap);
            await tx.addEvent('alice', { resourceId: `c${i}`, type: 'Normal', reason: 'Created', message: 'm' }, '2024-01-01T00:00:00Z');
          }, 'account:alice', 'shared'),
        ),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 7);
      assert.ok(results.every((r) => r.status === 'fulfilled' || full(r.reason)), 'every refusal is the cap\'s own error');
      assert.equal(await a.store.count({ kind: 'eip', account: 'alice', region: 'cn-hangzhou' }), 7);
      assert.equal((await a.store.list({ kind: 'eip' })).length, 7);
      const kept = results.flatMap((r, i) => (r.status === 'fulfilled' ? [`c${i}`] : []));
      assert.deepEqual((await a.store.listEvents(results.map((_, i) => `c${i}`))).map((e) => e.resourceId).sort(), kept.sort(), 'a refused insert took its events with it');
      // Outside a transaction too; another kind, account or region is not counted; a delete frees a place.
      await assert.rejects(a.store.put(row('c-more', { kind: 'eip' }), cap), full);
      await a.store.put(row('c-bob', { kind: 'eip', account: 'bob' }), cap);
      await a.store.put(row('c-vpc'), { ...cap, max: 1 });
      await a.store.delete('eip', kept[0]);
      await b.put(row('c-again', { kind: 'eip' }), cap);
      assert.equal(await b.count({ kind: 'eip', account: 'alice', region: 'cn-hangzhou' }), 7);
      // A write without a cap is not held to one given earlier.
      await a.store.insert(row('c-uncapped', { kind: 'eip' }));
      assert.equal(await a.store.count({ kind: 'eip', account: 'alice', region: 'cn-hangzhou' }), 8);
    });

    it('commits or rolls back each of many concurrent transactions on its own', async (t) => {
      // SQLite runs transactions queued together in one commit (group commit), each in a savepoint.
      const { store } = await open(t);
      const boom = new Error('boom');
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          store.tx(async (tx) => {
            await tx.insert(row(`g${i}`, { kind: 'eip' }));
            const ip = await tx.allocateIp('grp', [{ first: 1, last: 100 }], `g${i}`);
            assert.equal(await tx.ipOwner('grp', ip!), `g${i}`, 'a transaction sees its own writes');
            await tx.addEvent('alice', { resourceId: `g${i}`, type: 'Normal', reason: 'Created', message: 'm' }, '2024-01-01T00:00:00Z');
            if (i % 3 === 1) throw boom;
            return i;
          }),
        ),
      );
      const kept = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.deepEqual(kept, Array.from({ length: 20 }, (_, i) => i).filter((i) => i % 3 !== 1));
      assert.ok(results.every((r) => r.status === 'fulfilled' || r.reason === boom));
      assert.deepEqual((await store.list({ kind: 'eip' })).map((r) => r.id).sort(), kept.map((i) => `g${i}`).sort());
      assert.equal(await store.count({ kind: 'eip', account: 'alice', region: 'cn-hangzhou' }), kept.length);
      assert.equal(await store.countIps('grp'), kept.length);
      // The addresses of rolled-back transactions were handed out again: the kept ones hold the lowest.
      const owners = await Promise.all(Array.from({ length: kept.length }, (_, k) => store.ipOwner('grp', k + 1)));
      assert.deepEqual(owners.sort(), kept.map((i) => `g${i}`).sort());
      assert.deepEqual((await store.listEvents(kept.map((i) => `g${i}`).concat(['g1', 'g4']))).length, kept.length);
    });

    it('fails a transaction whose pipelined write failed, committing none of it', async (t) => {
      const { store } = await open(t);
      await store.insert(row('taken'));
      await assert.rejects(
        store.tx(async (tx) => {
          await tx.insert(row('p1'));
          await tx.put(row('taken'));
          await tx.putIdempotency('alice', 'CreateVpc', 'tok', { paramsHash: 'h', response: '{}' }, '2024-01-01T00:00:00Z');
          await tx.addEvent('alice', { resourceId: 'p1', type: 'Normal', reason: 'Created', message: 'm' }, '2024-01-01T00:00:00Z');
        }),
        (e) => !(e instanceof ApiError),
      );
      assert.equal(await store.get('vpc', 'p1'), undefined);
      assert.equal(await store.getIdempotency('alice', 'CreateVpc', 'tok'), undefined);
      assert.deepEqual(await store.listEvents(['p1']), []);
      assert.equal(await store.count({ kind: 'vpc', account: 'alice', region: 'cn-hangzhou' }), 1);
      // The store and the failed statement's reader stay usable.
      await store.tx(async (tx) => {
        await tx.put(row('p2'));
        assert.equal((await tx.get('vpc', 'p2'))?.name, 'name-p2', 'a put is seen by the statements after it');
      });
    });

    it('reserves a ClientToken for its transaction: a second one waits and sees the first answer', async (t) => {
      const a = await open(t);
      const b = dialect === 'postgres' ? (await open(t, a.url)).store : a.store;
      const now = '2024-01-01T00:00:00Z';
      let claimed!: () => void;
      const firstClaimed = new Promise<void>((r) => (claimed = r));
      const first = a.store.tx(async (tx) => {
        assert.equal(await tx.claimIdempotency('alice', 'CreateVpc', 'tok', 'h1', now), undefined);
        claimed();
        await new Promise((r) => setTimeout(r, 150));
        await tx.putIdempotency('alice', 'CreateVpc', 'tok', { paramsHash: 'h1', response: '{"VpcId":"vpc-1"}' }, now);
      }, 'account:alice', 'shared');
      await firstClaimed;
      const second = b.tx((tx) => tx.claimIdempotency('alice', 'CreateVpc', 'tok', 'h2', now), 'account:alice', 'shared');
      await first;
      assert.deepEqual(await second, { paramsHash: 'h1', response: '{"VpcId":"vpc-1"}' });
      // A reservation rolled back leaves the token free; a completed record is never changed.
      await assert.rejects(a.store.tx(async (tx) => {
        assert.equal(await tx.claimIdempotency('alice', 'CreateVpc', 'tok2', 'h', now), undefined);
        throw new Error('boom');
      }));
      assert.equal(await b.tx((tx) => tx.claimIdempotency('alice', 'CreateVpc', 'tok2', 'h3', now)), undefined, 'reserved and committed without an answer');
      assert.equal(await a.store.getIdempotency('alice', 'CreateVpc', 'tok2'), undefined, 'a reservation is no answer');
      assert.equal(await a.store.tx((tx) => tx.claimIdempotency('alice', 'CreateVpc', 'tok2', 'h4', now)), undefined, 'an abandoned reservation is taken over');
      await a.store.putIdempotency('alice', 'CreateVpc', 'tok', { paramsHash: 'h9', response: '{}' }, now);
      assert.deepEqual(await a.store.getIdempotency('alice', 'CreateVpc', 'tok'), { paramsHash: 'h1', response: '{"VpcId":"vpc-1"}' });
    });

    it('keeps reading and writing after another server changed a table under its statements', async (t) => {
      const a = await open(t);
      await a.store.insert(row('before'));
      assert.equal((await a.store.get('vpc', 'before'))?.id, 'before');
      assert.equal((await a.store.tx((tx) => tx.get('vpc', 'before')))?.id, 'before');
      // What a later migration might do, from another server (connection).
      const other = backend().driver(a.url);
      t.after(() => other.close());
      await other.run('ALTER TABLE resources ADD COLUMN later_column TEXT');
      for (let i = 0; i < 12; i++) {
        assert.equal((await a.store.get('vpc', 'before'))?.id, 'before');
        assert.equal((await a.store.tx((tx) => tx.get('vpc', 'before')))?.id, 'before');
      }
      await a.store.insert(row('after'));
      assert.deepEqual((await a.store.list({ kind: 'vpc' })).map((r) => r.id), ['before', 'after']);
    });

    it('lets exactly one of two concurrent read-modify-writes of a row win', async (t) => {
      const a = await open(t);
      const b = dialect === 'postgres' ? (await open(t, a.url)).store : a.store;
      await a.store.insert(row('race', { data: { n: 0 } }));
      const bump = (s: SqlStore) => async () => {
        const r = await s.get<{ n: number }>('vpc', 'race');
        r!.data = { n: r!.data.n + 1 };
        return s.update(r!);
      };
      // Both read version 1 before either writes.
      const reads = await Promise.all([a.store.get('vpc', 'race'), b.get('vpc', 'race')]);
      const outcomes = await Promise.allSettled(reads.map((r, i) => (i ? b : a.store).update({ ...r!, data: { n: 1 } })));
      assert.deepEqual(outcomes.map((o) => o.status).sort(), ['fulfilled', 'rejected']);
      const rejected = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      assert.equal((rejected.reason as ApiError).code, 'OperationConflict');
      await bump(b)();
      assert.deepEqual((await a.store.get('vpc', 'race'))!.data, { n: 2 });
      assert.equal((await a.store.get('vpc', 'race'))!.version, 3);
    });
  });
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'eci-store-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

contract('sqlite', () => ({
  fresh: () => join(dir, `s${++created}.db`),
  driver: (url) => new SqliteDriver(url),
}));

let pg: TestPostgres | undefined;
describe('PostgreSQL', () => {
  before(async () => {
    pg = await startPostgres();
  });
  after(() => pg?.stop());
  contract('postgres', () => ({
    fresh: () => pg!.createDatabase(`contract${++created}`),
    driver: (url) => new PostgresDriver(url),
  }));

  it('answers the statements a transaction sends together in order, and after a failure among them sends the skipped ones again', async () => {
    // One connection, so that what the failed batch left behind is what the next transactions meet.
    const driver = new PostgresDriver(pg!.createDatabase(`contract${++created}`), 1);
    try {
      await driver.run('CREATE TABLE batch_t (n INTEGER PRIMARY KEY)');
      const tag = Math.random().toString(36).slice(2);
      // Statements never sent on this connection before: their Parse travels in the batch.
      const first = `SELECT n, '${tag}-a' AS t FROM batch_t WHERE n >= ? ORDER BY n`;
      const second = `SELECT COUNT(*) AS c, '${tag}-b' AS t FROM batch_t WHERE n > ?`;
      const answers = await driver.transaction(async (conn) => {
        conn.defer!('INSERT INTO batch_t (n) VALUES (?)', [1]);
        conn.defer!('INSERT INTO batch_t (n) VALUES (?)', [2]);
        return Promise.all([conn.query(first, [2]), conn.run('UPDATE batch_t SET n = n + 10 WHERE n = ?', [1]), conn.query(second, [0])]);
      });
      assert.deepEqual(answers, [[{ n: 2, t: `${tag}-a` }], 1, [{ c: 2, t: `${tag}-b` }]]);
      // A failure in the middle: nothing after it ran, the transaction rolled back, and each caller
      // hears the failure itself.
      const third = `SELECT n, '${tag}-c' AS t FROM batch_t WHERE n = ?`;
      const seen: unknown[] = [];
      await assert.rejects(
        driver.transaction(async (conn) => {
          conn.defer!('INSERT INTO batch_t (n) VALUES (?)', [3]);
          const duplicate = conn.run('INSERT INTO batch_t (n) VALUES (?)', [2]).catch((e: { code?: string }) => seen.push(e.code));
          const after = conn.query(third, [3]).catch((e: { code?: string }) => seen.push(e.code));
          await Promise.all([duplicate, after]);
          throw new Error('rolled back');
        }),
        /rolled back/,
      );
      assert.deepEqual(seen, ['23505', '23505']);
      // The statement whose Parse was skipped works on the same connection, and nothing of the failed
      // transaction was kept.
      assert.deepEqual(await driver.transaction((conn) => conn.query(third, [2])), [{ n: 2, t: `${tag}-c` }]);
      assert.deepEqual(await driver.query('SELECT n FROM batch_t ORDER BY n'), [{ n: 2 }, { n: 11 }]);
    } finally {
      await driver.close();
    }
  });
});
