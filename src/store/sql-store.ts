// The Store implemented once in portable SQL over a SqlDriver (node:sqlite or PostgreSQL).

import { ApiError } from '../core/errors.ts';
import { KIND } from '../core/model.ts';
import { COMMIT_CHANNEL, type Row, type SqlConn, type SqlDriver } from './driver.ts';
import { MIGRATIONS, type Migration } from './migrations.ts';
import type {
  AccessKey,
  CountCap,
  IdempotencyRecord,
  IpRange,
  ListQuery,
  LiveNonce,
  NewResource,
  NewResourceEvent,
  Resource,
  Store,
  StoredEvent,
  Tx,
} from './store.ts';

/** A row's columns as a resource's fields, all but its data. */
function rowFields(r: Row): Omit<Resource, 'data'> {
  return {
    kind: r.kind as string,
    id: r.id as string,
    account: r.account as string,
    region: r.region as string,
    name: r.name as string,
    status: r.status as string,
    parent: r.parent as string,
    createdAt: r.created_at as string,
    seq: Number(r.seq),
    version: Number(r.version),
  };
}

function toResource<D>(r: Row): Resource<D> {
  return { ...rowFields(r), data: JSON.parse(r.data as string) as D };
}

/** The row's fields (rowFields), declared by merging with the class below. */
interface LazyResource<D> extends Omit<Resource<D>, 'data'> {}

/** A resource whose data is decoded from its row's JSON when first read (ListQuery.lazyData). */
class LazyResource<D> implements Resource<D> {
  #text: string;
  #data: D | undefined;
  constructor(r: Row) {
    Object.assign(this, rowFields(r));
    this.#text = r.data as string;
  }
  get data(): D {
    return (this.#data ??= JSON.parse(this.#text) as D);
  }
  set data(d: D) {
    this.#data = d;
  }
}

const toResourceFor = <D>(q: ListQuery) => (q.lazyData ? (r: Row): Resource<D> => new LazyResource<D>(r) : toResource<D>);

function toEvent(r: Row): StoredEvent {
  return {
    resourceId: r.resource_id as string,
    type: r.type as 'Normal' | 'Warning',
    reason: r.reason as string,
    message: r.message as string,
    count: Number(r.count),
    firstTimestamp: r.first_ts as string,
    lastTimestamp: r.last_ts as string,
    seq: Number(r.seq),
  };
}

function where(q: ListQuery): { sql: string; params: unknown[] } {
  const parts = ['kind = ?'];
  const params: unknown[] = [q.kind];
  const eq = (col: string, v: unknown) => {
    parts.push(`${col} = ?`);
    params.push(v);
  };
  if (q.account !== undefined) eq('account', q.account);
  if (q.region !== undefined) eq('region', q.region);
  if (q.name !== undefined) eq('name', q.name);
  if (q.status !== undefined) eq('status', q.status);
  if (q.parent !== undefined) eq('parent', q.parent);
  if (q.afterSeq !== undefined) {
    parts.push('seq > ?');
    params.push(q.afterSeq);
  }
  if (q.ids !== undefined) {
    if (q.ids.length === 0) parts.push('1 = 0');
    else {
      parts.push(`id IN (${q.ids.map(() => '?').join(', ')})`);
      params.push(...q.ids);
    }
  }
  return { sql: parts.join(' AND '), params };
}

/**
 * The kinds whose writes are announced to other processes on PostgreSQL (NOTIFY; SQLite has no
 * choice, see Store.watch): what host agents converge on. A notifying commit takes PostgreSQL's
 * notification-queue lock, so writes nobody elsewhere waits for (VPCs, keys, hosts) stay silent.
 */
const ANNOUNCED: ReadonlySet<string> = new Set([
  KIND.containerGroup,
  KIND.securityGroup,
  KIND.eip,
  KIND.natGateway,
  KIND.snatEntry,
  KIND.forwardEntry,
  KIND.bandwidthPackage,
]);

class SqlTx implements Tx {
  protected readonly conn: SqlConn;
  /** A plain property, not #private: a Proxy of a Tx (tests wrap one) still reaches it. */
  protected readonly pg: boolean;
  /** Called after each write of a resource row, with its kind (Store.watch). */
  protected onWrite: ((kind: string) => void) | undefined;
  constructor(conn: SqlConn, dialect: 'sqlite' | 'postgres', onWrite?: (kind: string) => void) {
    this.conn = conn;
    this.pg = dialect === 'postgres';
    this.onWrite = onWrite;
  }

  /**
   * A write whose answer nothing needs: pipelined where the connection can (PostgreSQL inside a
   * transaction, see SqlConn.defer; its failure fails the transaction), awaited otherwise.
   */
  protected async write(sql: string, params: readonly unknown[]): Promise<void> {
    if (this.conn.defer) this.conn.defer(sql, params);
    else await this.conn.run(sql, params);
  }

  async get<D>(kind: string, id: string): Promise<Resource<D> | undefined> {
    const rows = await this.conn.query('SELECT * FROM resources WHERE id = ? AND kind = ?', [id, kind]);
    return rows.length ? toResource<D>(rows[0]) : undefined;
  }

  async list<D>(q: ListQuery): Promise<Resource<D>[]> {
    const w = where(q);
    const limit = q.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(q.limit))}` : '';
    const rows = await this.conn.query(`SELECT * FROM resources WHERE ${w.sql} ORDER BY seq${limit}`, w.params);
    return rows.map(toResourceFor<D>(q));
  }

  async count(q: ListQuery): Promise<number> {
    // The common question (a quota: how many of a kind does an account have in a region) is answered
    // from the counter that insert and delete keep, not by counting rows.
    if (q.account !== undefined && q.region !== undefined && q.ids === undefined && q.name === undefined && q.status === undefined && q.parent === undefined) {
      const rows = await this.conn.query('SELECT n FROM resource_counts WHERE kind = ? AND account = ? AND region = ?', [q.kind, q.account, q.region]);
      return rows.length ? Number(rows[0].n) : 0;
    }
    const w = where({ ...q, afterSeq: undefined });
    const rows = await this.conn.query(`SELECT COUNT(*) AS n FROM resources WHERE ${w.sql}`, w.params);
    return Number(rows[0].n);
  }

  async insert<D>(r: NewResource<D>, cap?: CountCap): Promise<Resource<D>> {
    if (this.pg) {
      // One round trip: the row and its counter in one statement (a data-modifying CTE). The counter's
      // new value is read under its row lock, which waits for any other transaction that bumped it.
      const rows = await this.conn.query(
        `WITH ins AS (
           INSERT INTO resources (kind, id, account, region, name, status, parent, created_at, version, data)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?) RETURNING seq),
         cnt AS (
           INSERT INTO resource_counts (kind, account, region, n) VALUES (?, ?, ?, 1)
           ON CONFLICT (kind, account, region) DO UPDATE SET n = resource_counts.n + 1, cap = NULL RETURNING n)
         SELECT (SELECT seq FROM ins) AS seq, (SELECT n FROM cnt) AS n`,
        [r.kind, r.id, r.account, r.region, r.name, r.status, r.parent, r.createdAt, JSON.stringify(r.data), r.kind, r.account, r.region],
      );
      if (cap && Number(rows[0].n) > cap.max) throw cap.exceeded();
      this.onWrite?.(r.kind);
      return { ...r, seq: Number(rows[0].seq), version: 1 };
    }
    const rows = await this.conn.query(
      `INSERT INTO resources (kind, id, account, region, name, status, parent, created_at, version, data)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?) RETURNING seq`,
      [r.kind, r.id, r.account, r.region, r.name, r.status, r.parent, r.createdAt, JSON.stringify(r.data)],
    );
    const counted = await this.conn.query(
      `INSERT INTO resource_counts (kind, account, region, n) VALUES (?, ?, ?, 1)
       ON CONFLICT (kind, account, region) DO UPDATE SET n = resource_counts.n + 1, cap = NULL RETURNING n`,
      [r.kind, r.account, r.region],
    );
    if (cap && Number(counted[0].n) > cap.max) throw cap.exceeded();
    this.onWrite?.(r.kind);
    return { ...r, seq: Number(rows[0].seq), version: 1 };
  }

  /** The caps of this transaction's pipelined inserts (put), by kind: what a refused count means. */
  readonly caps = new Map<string, CountCap>();

  async put<D>(r: NewResource<D>, cap?: CountCap, events: readonly NewResourceEvent[] = []): Promise<void> {
    if (!this.pg || !this.conn.defer) {
      await this.insert(r, cap);
      for (const e of events) await this.addEvent(r.account, { resourceId: r.id, ...e }, r.createdAt);
      return;
    }
    // insert's statement, pipelined; the count's CHECK judges the cap (migration 4). The events ride
    // in the same statement (each statement costs both processes a fixed share of CPU): rows of a
    // multi-row VALUES take their seq in order.
    if (cap) this.caps.set(r.kind, cap);
    const rows: { e: NewResourceEvent; count: number }[] = [];
    for (const e of events) {
      const last = rows[rows.length - 1];
      if (last && last.e.reason === e.reason && last.e.message === e.message) last.count++;
      else rows.push({ e, count: 1 });
    }
    const evParams: unknown[] = [];
    for (const { e, count } of rows) evParams.push(r.id, r.account, e.type, e.reason, e.message, count, r.createdAt, r.createdAt);
    const ev = rows.length
      ? `, ev AS (
         INSERT INTO events (resource_id, account, type, reason, message, count, first_ts, last_ts)
         VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')})`
      : '';
    this.conn.defer(
      `WITH ins AS (
         INSERT INTO resources (kind, id, account, region, name, status, parent, created_at, version, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?))${ev}
       INSERT INTO resource_counts (kind, account, region, n, cap) VALUES (?, ?, ?, 1, ?)
       ON CONFLICT (kind, account, region) DO UPDATE SET n = resource_counts.n + 1, cap = excluded.cap`,
      [r.kind, r.id, r.account, r.region, r.name, r.status, r.parent, r.createdAt, JSON.stringify(r.data), ...evParams, r.kind, r.account, r.region, cap?.max ?? null],
    );
    this.onWrite?.(r.kind);
  }

  async update<D>(r: Resource<D>): Promise<Resource<D>> {
    const changed = await this.conn.run(
      `UPDATE resources SET name = ?, status = ?, parent = ?, data = ?, version = version + 1
       WHERE id = ? AND version = ?`,
      [r.name, r.status, r.parent, JSON.stringify(r.data), r.id, r.version],
    );
    if (changed !== 1)
      throw new ApiError('Conflict', 'OperationConflict', `The resource ${r.id} was changed by another request; retry.`);
    this.onWrite?.(r.kind);
    return { ...r, version: r.version + 1 };
  }

  async delete(kind: string, id: string): Promise<void> {
    const gone = await this.conn.query('DELETE FROM resources WHERE id = ? AND kind = ? RETURNING account, region', [id, kind]);
    if (gone.length) {
      await this.conn.run('UPDATE resource_counts SET n = n - 1, cap = NULL WHERE kind = ? AND account = ? AND region = ?', [kind, gone[0].account, gone[0].region]);
      this.onWrite?.(kind);
    }
  }

  async allocateIp(scope: string, ranges: readonly IpRange[], owner: string, wanted?: number): Promise<number | undefined> {
    const insert = (ip: number) =>
      this.conn.run('INSERT INTO ip_allocations (scope, ip, owner) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [scope, ip, owner]);
    if (wanted !== undefined) {
      if (!ranges.some((r) => wanted >= r.first && wanted <= r.last)) return undefined;
      return (await insert(wanted)) === 1 ? wanted : undefined;
    }
    // Allocations in one scope queue behind each other until commit (on PostgreSQL, across servers):
    // without it every concurrent transaction picks the same lowest candidate and all but one retry,
    // round after round. The primary key, not the lock, is what keeps addresses unique.
    await this.conn.lock(`ipam:${scope}`);
    for (const range of ranges) {
      const ip = (this.pg ? await this.#allocateAtHint(scope, range, owner) : undefined) ?? (await this.#allocateInRange(scope, range, insert));
      if (ip !== undefined) return ip;
    }
    return undefined;
  }

  /**
   * PostgreSQL, the usual case in one statement (sent behind the IPAM lock, so one round trip for
   * both): the watermark address itself is free. Exactly what #allocateInRange does when its first
   * candidate succeeds; undefined (nothing written) sends the caller there.
   */
  async #allocateAtHint(scope: string, range: IpRange, owner: string): Promise<number | undefined> {
    // The watermark moves past the address in the same statement, unless a release lowered it
    // meanwhile (see #allocateInRange): the UPDATE re-checks `low` on the row's latest version.
    const rows = await this.conn.query(
      `WITH got AS (
         INSERT INTO ip_allocations (scope, ip, owner)
         SELECT ?, low, ? FROM ip_hints WHERE scope = ? AND range_first = ? AND low >= ? AND low <= ?
         ON CONFLICT DO NOTHING RETURNING ip),
       moved AS (
         UPDATE ip_hints SET low = got.ip + 1 FROM got WHERE scope = ? AND range_first = ? AND low = got.ip)
       SELECT ip FROM got`,
      [scope, owner, scope, range.first, range.first, range.last, scope, range.first],
    );
    return rows.length ? Number(rows[0].ip) : undefined;
  }

  /**
   * The lowest free address of one range, in O(log n) of the addresses taken: the ip_hints watermark
   * says every address below it is taken, so the search starts there, and steps over the few taken
   * above it (exact allocations). The watermark is written back only if it is still the value read:
   * a release that lowered it meanwhile (on PostgreSQL, another transaction) wins. Without a hint row
   * (a new range, or allocations older than the hints) the first gap is found once by a scan.
   */
  async #allocateInRange(scope: string, range: IpRange, insert: (ip: number) => Promise<number>): Promise<number | undefined> {
    const hint = await this.conn.query('SELECT low FROM ip_hints WHERE scope = ? AND range_first = ?', [scope, range.first]);
    const read = hint.length ? Number(hint[0].low) : undefined;
    let candidate = Math.max(range.first, read ?? (await this.#lowestFree(scope, range)) ?? range.last + 1);
    let found: number | undefined;
    for (; candidate <= range.last; candidate++) {
      if ((await insert(candidate)) === 1) {
        found = candidate;
        candidate++;
        break;
      }
    }
    if (read === undefined)
      await this.conn.run('INSERT INTO ip_hints (scope, range_first, low) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [scope, range.first, candidate]);
    else if (candidate !== read)
      await this.conn.run('UPDATE ip_hints SET low = ? WHERE scope = ? AND range_first = ? AND low = ?', [candidate, scope, range.first, read]);
    return found;
  }

  async #lowestFree(scope: string, range: IpRange): Promise<number | undefined> {
    const first = await this.conn.query('SELECT 1 AS x FROM ip_allocations WHERE scope = ? AND ip = ?', [scope, range.first]);
    if (first.length === 0) return range.first;
    // The lowest allocated address whose successor is free starts the first gap.
    const rows = await this.conn.query(
      `SELECT MIN(a.ip) + 1 AS ip FROM ip_allocations a
       WHERE a.scope = ? AND a.ip >= ? AND a.ip < ?
         AND NOT EXISTS (SELECT 1 FROM ip_allocations b WHERE b.scope = a.scope AND b.ip = a.ip + 1)`,
      [scope, range.first, range.last],
    );
    const ip = rows[0]?.ip;
    return ip === null || ip === undefined ? undefined : Number(ip);
  }

  async releaseIp(scope: string, ip: number): Promise<void> {
    if ((await this.conn.run('DELETE FROM ip_allocations WHERE scope = ? AND ip = ?', [scope, ip])) > 0)
      await this.conn.run('UPDATE ip_hints SET low = ? WHERE scope = ? AND range_first <= ? AND low > ?', [ip, scope, ip, ip]);
  }

  async countIps(scope: string): Promise<number> {
    const rows = await this.conn.query('SELECT COUNT(*) AS n FROM ip_allocations WHERE scope = ?', [scope]);
    return Number(rows[0].n);
  }

  async ipOwner(scope: string, ip: number): Promise<string | undefined> {
    const rows = await this.conn.query('SELECT owner FROM ip_allocations WHERE scope = ? AND ip = ?', [scope, ip]);
    return rows.length ? (rows[0].owner as string) : undefined;
  }

  async getIdempotency(account: string, action: string, token: string): Promise<IdempotencyRecord | undefined> {
    const rows = await this.conn.query(
      "SELECT params_hash, response FROM idempotency WHERE account = ? AND action = ? AND token = ? AND response <> ''",
      [account, action, token],
    );
    return rows.length ? { paramsHash: rows[0].params_hash as string, response: rows[0].response as string } : undefined;
  }

  async claimIdempotency(account: string, action: string, token: string, paramsHash: string, now: string): Promise<IdempotencyRecord | undefined> {
    // The reservation is a row with an empty response (a stored response is JSON, never empty). On
    // PostgreSQL an insert that meets another transaction's uncommitted row waits for it to end.
    if (this.pg) {
      // One statement, whatever the case (so that nothing the transaction sends after it can come
      // between its parts): a conflict updates the existing row, which locks and returns its latest
      // committed version (a plain SELECT after the wait would read the statement's older snapshot).
      // The update changes only a reservation left without an answer, which this request takes
      // over; xmax = 0 tells a fresh insert from a conflict.
      const rows = await this.conn.query(
        `INSERT INTO idempotency AS i (account, action, token, params_hash, response, created_at) VALUES (?, ?, ?, ?, '', ?)
         ON CONFLICT (account, action, token) DO UPDATE SET
           params_hash = CASE WHEN i.response = '' THEN excluded.params_hash ELSE i.params_hash END,
           created_at = CASE WHEN i.response = '' THEN excluded.created_at ELSE i.created_at END
         RETURNING (i.xmax = 0) AS fresh, i.params_hash, i.response`,
        [account, action, token, paramsHash, now],
      );
      const row = rows[0];
      if (row.fresh || row.response === '') return undefined;
      return { paramsHash: row.params_hash as string, response: row.response as string };
    }
    for (let attempt = 0; ; attempt++) {
      const claimed = await this.conn.query(
        `INSERT INTO idempotency (account, action, token, params_hash, response, created_at) VALUES (?, ?, ?, ?, '', ?)
         ON CONFLICT DO NOTHING RETURNING token`,
        [account, action, token, paramsHash, now],
      );
      if (claimed.length) return undefined;
      const seen = await this.conn.query('SELECT params_hash, response FROM idempotency WHERE account = ? AND action = ? AND token = ?', [account, action, token]);
      if (seen.length && seen[0].response !== '') return { paramsHash: seen[0].params_hash as string, response: seen[0].response as string };
      // A reservation committed without an answer (a transaction that did not complete it) is free.
      if (seen.length) {
        const taken = await this.conn.query(
          `UPDATE idempotency SET params_hash = ?, created_at = ? WHERE account = ? AND action = ? AND token = ? AND response = '' RETURNING token`,
          [paramsHash, now, account, action, token],
        );
        if (taken.length) return undefined;
      }
      // Deleted or completed between the statements: try again.
      if (attempt >= 3) throw new ApiError('Conflict', 'OperationConflict', 'The ClientToken is in use by another request; retry.');
    }
  }

  async putIdempotency(account: string, action: string, token: string, rec: IdempotencyRecord, now: string): Promise<void> {
    await this.write(
      `INSERT INTO idempotency (account, action, token, params_hash, response, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (account, action, token) DO UPDATE SET params_hash = excluded.params_hash, response = excluded.response
       WHERE idempotency.response = ''`,
      [account, action, token, rec.paramsHash, rec.response, now],
    );
  }

  async addEvent(
    account: string,
    e: Omit<StoredEvent, 'count' | 'seq' | 'firstTimestamp' | 'lastTimestamp'>,
    now: string,
  ): Promise<void> {
    if (this.pg && this.conn.defer) {
      // Both cases in one statement, pipelined: bump the last event of the resource when it has the
      // same reason and message, else insert. (A data-modifying WITH runs whether or not it is read.)
      this.conn.defer(
        `WITH last AS (SELECT seq, reason, message FROM events WHERE resource_id = ? ORDER BY seq DESC LIMIT 1),
         bump AS (UPDATE events SET count = count + 1, last_ts = ? WHERE seq = (SELECT seq FROM last WHERE reason = ? AND message = ?))
         INSERT INTO events (resource_id, account, type, reason, message, count, first_ts, last_ts)
         SELECT ?, ?, ?, ?, ?, 1, ?, ? WHERE NOT EXISTS (SELECT 1 FROM last WHERE reason = ? AND message = ?)`,
        [e.resourceId, now, e.reason, e.message, e.resourceId, account, e.type, e.reason, e.message, now, now, e.reason, e.message],
      );
      return;
    }
    // The usual case (a different event from the last one) in one statement: insert unless the last
    // event of the resource has the same reason and message; only then bump that one.
    const inserted = await this.conn.run(
      `INSERT INTO events (resource_id, account, type, reason, message, count, first_ts, last_ts)
       SELECT ?, ?, ?, ?, ?, 1, ?, ?
       WHERE NOT EXISTS (
         SELECT 1 FROM (SELECT reason, message FROM events WHERE resource_id = ? ORDER BY seq DESC LIMIT 1) l
         WHERE l.reason = ? AND l.message = ?)`,
      [e.resourceId, account, e.type, e.reason, e.message, now, now, e.resourceId, e.reason, e.message],
    );
    if (inserted === 0)
      await this.conn.run(
        'UPDATE events SET count = count + 1, last_ts = ? WHERE seq = (SELECT MAX(seq) FROM events WHERE resource_id = ?)',
        [now, e.resourceId],
      );
  }

  async listEvents(resourceIds: readonly string[], afterSeq = 0, limit = 1000): Promise<StoredEvent[]> {
    if (resourceIds.length === 0) return [];
    const rows = await this.conn.query(
      `SELECT * FROM events WHERE resource_id IN (${resourceIds.map(() => '?').join(', ')}) AND seq > ? ORDER BY seq LIMIT ${Math.floor(limit)}`,
      [...resourceIds, afterSeq],
    );
    return rows.map(toEvent);
  }

  async deleteEvents(resourceId: string): Promise<void> {
    await this.conn.run('DELETE FROM events WHERE resource_id = ?', [resourceId]);
  }

  async claimNonce(nonce: string, nowMs: number, expiresAt: number): Promise<boolean> {
    // One statement: new, or stored but expired (its request would fail the time check anyway).
    const rows = await this.conn.query(
      `INSERT INTO nonces (nonce, expires_at) VALUES (?, ?)
       ON CONFLICT (nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at < ? RETURNING nonce`,
      [nonce, expiresAt, nowMs],
    );
    return rows.length === 1;
  }
}

/**
 * A pipelined insert (Tx.put) refused by the count's CHECK: the error of its cap. PostgreSQL names
 * the row (kind, account, region, n, cap) in the detail; with one capped kind it is that one.
 */
function capExceeded(e: unknown, caps: ReadonlyMap<string, CountCap>): Error | undefined {
  const err = e as { code?: string; constraint?: string; detail?: string };
  if (err?.code !== '23514' || err.constraint !== 'resource_counts_cap' || caps.size === 0) return undefined;
  const kind = /^Failing row contains \(([^,]*),/.exec(err.detail ?? '')?.[1];
  return (kind !== undefined ? caps.get(kind) : undefined)?.exceeded() ?? [...caps.values()][0].exceeded();
}

/** At most this many ids per caller are batched (more read on their own), and per batched query. */
const BATCH_IDS = 100;
const BATCH_QUERY = 500;
/** A batched events read returning more rows than this is not used: each caller reads its own. */
const BATCH_EVENTS = 5000;

/**
 * `ids` repeated up to the next power of two (at most BATCH_QUERY): a repeat changes nothing in an
 * IN list, and the distinct statement texts (each prepared once per connection) stay few.
 */
function padded(ids: readonly string[]): string[] {
  let n = 1;
  while (n < ids.length) n *= 2;
  n = Math.min(n, Math.max(BATCH_QUERY, ids.length));
  const out = ids.slice();
  while (out.length < n) out.push(ids[ids.length - 1]);
  return out;
}

/**
 * Collects the keys asked for in one turn of the event loop and answers them with one call of
 * `fetch` (given the distinct keys); every caller gets the whole result and picks its own rows.
 */
class Batch<K, V> {
  readonly #fetch: (keys: readonly K[]) => Promise<V>;
  #keys: Set<K> | undefined;
  #result: Promise<V> | undefined;
  constructor(fetch: (keys: readonly K[]) => Promise<V>) {
    this.#fetch = fetch;
  }
  load(keys: readonly K[]): Promise<V> {
    if (!this.#keys) {
      const set = new Set<K>();
      this.#keys = set;
      this.#result = new Promise<V>((resolve, reject) =>
        setImmediate(() => {
          this.#keys = undefined;
          this.#fetch([...set]).then(resolve, reject);
        }),
      );
    }
    for (const k of keys) this.#keys.add(k);
    return this.#result!;
  }
}

/**
 * How long a nonce queued by recordNonceLater waits for its batch. Every commit on a SQLite file makes
 * each other process sharing it drop its whole page cache at its next read (a server's API workers):
 * at 5 ms, the nonce batches of two workers cost each other ~15% more CPU per Describe than at 50 ms
 * (bench/run.ts, 2 processes). What a kill -9 can lose is this long of read nonces (see NonceCache).
 */
const NONCE_FLUSH_MS = 50;

interface NonceRequest {
  readonly nonce: string;
  readonly nowMs: number;
  readonly expiresAt: number;
  resolve(fresh: boolean): void;
  reject(e: unknown): void;
}

export class SqlStore extends SqlTx implements Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly #driver: SqlDriver;
  #nonceWrites = 0;
  #readNonceWrites = 0;
  #nonceBatch: NonceRequest[] | undefined;
  #laterNonces = new Map<string, number>();
  #laterTimer: NodeJS.Timeout | undefined;
  #laterFlush: Promise<void> = Promise.resolve();
  #byIds: Batch<string, Row[]> | undefined;
  #eventsOf: Batch<string, Row[] | undefined> | undefined;
  /** Listener → whether it hears other processes' commits too. */
  readonly #watchers = new Map<() => void, boolean>();
  #unwatchDriver: (() => void) | undefined;
  #notifyQueued = false;
  /** A commit of this process is among those the queued poke reports. */
  #localSeen = false;

  private constructor(driver: SqlDriver) {
    super(driver, driver.dialect);
    this.#driver = driver;
    this.dialect = driver.dialect;
    // A single statement on the store itself (an update outside tx) commits on its own.
    this.onWrite = (kind) => {
      if (this.dialect === 'postgres' && ANNOUNCED.has(kind)) void this.#driver.run(`NOTIFY ${COMMIT_CHANNEL}`).catch(() => undefined);
      this.#changed();
    };
  }

  watch(listener: () => void, opts: { readonly otherProcesses?: boolean } = {}): () => void {
    const remote = opts.otherProcesses ?? true;
    this.#watchers.set(listener, remote);
    if (remote) this.#unwatchDriver ??= this.#driver.watchCommits?.(() => this.#changed(true)) ?? (() => undefined);
    return () => {
      this.#watchers.delete(listener);
      if (![...this.#watchers.values()].some(Boolean)) {
        this.#unwatchDriver?.();
        this.#unwatchDriver = undefined;
      }
    };
  }

  /**
   * Pokes the watchers once per turn of the event loop, however many commits it saw; a commit
   * reported by the driver (`remote`, possibly another process's) only those that asked for it.
   */
  #changed(remote = false): void {
    if (!this.#watchers.size) return;
    if (!remote) this.#localSeen = true;
    if (this.#notifyQueued) return;
    this.#notifyQueued = true;
    setImmediate(() => {
      const onlyRemote = !this.#localSeen;
      this.#notifyQueued = false;
      this.#localSeen = false;
      for (const [w, wantsRemote] of [...this.#watchers]) {
        if (onlyRemote && !wantsRemote) continue;
        try {
          w();
        } catch (e) {
          console.error('store watcher:', e);
        }
      }
    });
  }

  /**
   * Opens the store and applies pending migrations. Safe to call from several servers at once.
   * `migrations` is for tests of the migration machinery; everything else uses the released list.
   */
  static async open(driver: SqlDriver, migrations: readonly Migration[] = MIGRATIONS): Promise<SqlStore> {
    const store = new SqlStore(driver);
    await store.#migrate(migrations);
    return store;
  }

  async #migrate(migrations: readonly Migration[]): Promise<void> {
    // Everything, the bookkeeping table included, under one lock: two PostgreSQL servers racing on
    // CREATE TABLE IF NOT EXISTS would otherwise collide on the catalog's unique index.
    await this.#driver.transaction(async (conn) => {
      await conn.run('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      const done = new Set((await conn.query('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        for (const stmt of m.sql(this.dialect).split(';').map((s) => s.trim()).filter(Boolean)) await conn.run(stmt);
        await conn.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
          m.version,
          m.name,
          new Date().toISOString(),
        ]);
      }
    }, 'openeci:migrate');
  }

  // Called on the store itself, outside any transaction, a write still commits atomically with the
  // bookkeeping that goes with it (resource_counts, ip_hints).
  override insert<D>(r: NewResource<D>, cap?: CountCap): Promise<Resource<D>> {
    return this.tx((tx) => tx.insert(r, cap));
  }
  override put<D>(r: NewResource<D>, cap?: CountCap, events?: readonly NewResourceEvent[]): Promise<void> {
    return this.tx((tx) => tx.put(r, cap, events));
  }
  override delete(kind: string, id: string): Promise<void> {
    return this.tx((tx) => tx.delete(kind, id));
  }
  override allocateIp(scope: string, ranges: readonly IpRange[], owner: string, wanted?: number): Promise<number | undefined> {
    return this.tx((tx) => tx.allocateIp(scope, ranges, owner, wanted));
  }
  override releaseIp(scope: string, ip: number): Promise<void> {
    return this.tx((tx) => tx.releaseIp(scope, ip));
  }

  /**
   * PostgreSQL: reads by id made on the store (outside any transaction, on the pool) in the same turn
   * of the event loop are answered by ONE query for all of them; a Describe by id otherwise costs
   * each request its own round trips, the largest part of its CPU. Each caller then gets exactly
   * what its own query would have returned: the rows are filtered by its columns, ordered by seq and
   * limited in memory, and parsed for it alone. (On SQLite a statement is an in-process call and
   * batching measured no gain, so it reads directly.)
   */
  override async list<D>(q: ListQuery): Promise<Resource<D>[]> {
    if (this.dialect !== 'postgres' || q.ids === undefined || q.ids.length === 0 || q.ids.length > BATCH_IDS) return super.list<D>(q);
    this.#byIds ??= new Batch((ids) => this.#rowsByIds(ids));
    const rows = await this.#byIds.load(q.ids);
    const out: Row[] = [];
    const wanted = new Set(q.ids);
    for (const r of rows) {
      if (r.kind !== q.kind || !wanted.has(r.id as string)) continue;
      if (q.account !== undefined && r.account !== q.account) continue;
      if (q.region !== undefined && r.region !== q.region) continue;
      if (q.name !== undefined && r.name !== q.name) continue;
      if (q.status !== undefined && r.status !== q.status) continue;
      if (q.parent !== undefined && r.parent !== q.parent) continue;
      if (q.afterSeq !== undefined && !(Number(r.seq) > q.afterSeq)) continue;
      out.push(r);
    }
    out.sort((a, b) => Number(a.seq) - Number(b.seq));
    const limit = q.limit !== undefined ? Math.max(0, Math.floor(q.limit)) : out.length;
    return out.slice(0, limit).map(toResourceFor<D>(q));
  }

  async #rowsByIds(ids: readonly string[]): Promise<Row[]> {
    const out: Row[] = [];
    for (let i = 0; i < ids.length; i += BATCH_QUERY) {
      const chunk = padded(ids.slice(i, i + BATCH_QUERY));
      out.push(...(await this.#driver.query(`SELECT * FROM resources WHERE id IN (${chunk.map(() => '?').join(', ')})`, chunk)));
    }
    return out;
  }

  /** Batched like `list` (see there); a batch whose events might not all fit is re-asked per caller. */
  override async listEvents(resourceIds: readonly string[], afterSeq = 0, limit = 1000): Promise<StoredEvent[]> {
    if (this.dialect !== 'postgres' || resourceIds.length === 0 || resourceIds.length > BATCH_IDS || afterSeq !== 0) return super.listEvents(resourceIds, afterSeq, limit);
    this.#eventsOf ??= new Batch((ids) => this.#eventsByIds(ids));
    const rows = await this.#eventsOf.load(resourceIds);
    if (rows === undefined) return super.listEvents(resourceIds, afterSeq, limit);
    const wanted = new Set(resourceIds);
    const out: StoredEvent[] = [];
    const cap = Math.floor(limit);
    for (const r of rows) {
      if (out.length >= cap) break;
      if (wanted.has(r.resource_id as string)) out.push(toEvent(r));
    }
    return out;
  }

  /** Every event of `ids` in seq order, or undefined when there are too many to read at once. */
  async #eventsByIds(ids: readonly string[]): Promise<Row[] | undefined> {
    if (ids.length > BATCH_QUERY) return undefined;
    const list = padded(ids);
    // Sorted here, not by SQL: a planner may then walk the whole table in seq order (SQLite did)
    // instead of using the index on resource_id.
    const rows = await this.#driver.query(`SELECT * FROM events WHERE resource_id IN (${list.map(() => '?').join(', ')}) LIMIT ${BATCH_EVENTS + 1}`, list);
    return rows.length > BATCH_EVENTS ? undefined : rows.sort((a, b) => Number(a.seq) - Number(b.seq));
  }

  tx<T>(fn: (tx: Tx) => Promise<T>, lockKey?: string, lockMode?: 'exclusive' | 'shared'): Promise<T> {
    let wrote = false;
    let announce = false;
    let current: SqlTx | undefined;
    return this.#driver
      .transaction(async (conn) => {
        // A retried transaction starts over.
        wrote = false;
        announce = false;
        current = new SqlTx(conn, this.dialect, (kind) => {
          wrote = true;
          if (ANNOUNCED.has(kind)) announce = true;
        });
        const value = await fn(current);
        // Delivered by PostgreSQL at commit, to every listening server and agent (Store.watch).
        if (announce && this.dialect === 'postgres') {
          if (conn.atCommit) conn.atCommit(`NOTIFY ${COMMIT_CHANNEL}`);
          else await conn.run(`NOTIFY ${COMMIT_CHANNEL}`);
        }
        return value;
      }, lockKey, lockMode)
      .then(
        (value) => {
          if (wrote) this.#changed();
          return value;
        },
        (e: unknown) => {
          throw (current && capExceeded(e, current.caps)) ?? e;
        },
      );
  }

  /**
   * Nonces arriving in the same turn of the event loop are recorded together, in one statement and
   * one commit (a commit per request was the largest cost of a read). Each caller still learns
   * whether its nonce was new only once the batch holding it is committed.
   */
  useNonce(nonce: string, nowMs: number, ttlMs: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (!this.#nonceBatch) {
        this.#nonceBatch = [];
        setImmediate(() => void this.#recordNonces());
      }
      this.#nonceBatch.push({ nonce, nowMs, expiresAt: nowMs + ttlMs, resolve, reject });
    });
  }

  async #recordNonces(): Promise<void> {
    const batch = this.#nonceBatch!;
    this.#nonceBatch = undefined;
    try {
      this.#nonceWrites += batch.length;
      if (this.#nonceWrites >= 1000) {
        this.#nonceWrites = 0;
        await this.#driver.run('DELETE FROM nonces WHERE expires_at < ?', [Math.min(...batch.map((b) => b.nowMs))]);
      }
      // Within the batch the first request with a nonce may win; the others are replays of it.
      const firsts = new Map<string, NonceRequest>();
      for (const b of batch) if (!firsts.has(b.nonce)) firsts.set(b.nonce, b);
      // A read answered before with this very request (same nonce, same timestamp, so same expiry).
      const replayedReads = new Set<string>();
      const candidates = [...firsts.values()];
      for (let i = 0; i < candidates.length; i += 250) {
        const chunk = candidates.slice(i, i + 250);
        const rows = await this.#driver.query(
          `SELECT nonce FROM read_nonces WHERE ${chunk.map(() => '(expires_at = ? AND nonce = ?)').join(' OR ')}`,
          chunk.flatMap((b) => [b.expiresAt, b.nonce]),
        );
        for (const r of rows) replayedReads.add(r.nonce as string);
      }
      // Replays are answered below like a second request with the nonce: firsts no longer names them.
      for (const n of replayedReads) firsts.delete(n);
      const fresh = new Set<string>();
      const unique = [...firsts.values()];
      for (let i = 0; i < unique.length; i += 500) {
        const chunk = unique.slice(i, i + 500);
        const rows = await this.#driver.query(
          `INSERT INTO nonces (nonce, expires_at) VALUES ${chunk.map(() => '(?, ?)').join(', ')} ON CONFLICT DO NOTHING RETURNING nonce`,
          chunk.flatMap((b) => [b.nonce, b.expiresAt]),
        );
        for (const r of rows) fresh.add(r.nonce as string);
      }
      for (const b of batch) {
        if (firsts.get(b.nonce) !== b) b.resolve(false);
        else if (fresh.has(b.nonce)) b.resolve(true);
        // A nonce whose window has passed may be used again (its request would fail the time check anyway).
        else b.resolve((await this.#driver.run('UPDATE nonces SET expires_at = ? WHERE nonce = ? AND expires_at < ?', [b.expiresAt, b.nonce, b.nowMs])) === 1);
      }
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }

  recordNonceLater(nonce: string, expiresAt: number): void {
    const had = this.#laterNonces.get(nonce);
    if (had === undefined || had < expiresAt) this.#laterNonces.set(nonce, expiresAt);
    this.#laterTimer ??= setTimeout(() => void this.flushNonces().catch((e: unknown) => console.error('store: writing nonces failed:', e)), NONCE_FLUSH_MS);
  }

  /** Writes the queued nonces; batches are written one after another (a batch never overlaps the next). */
  flushNonces(): Promise<void> {
    if (this.#laterTimer) clearTimeout(this.#laterTimer);
    this.#laterTimer = undefined;
    const batch = [...this.#laterNonces];
    this.#laterNonces.clear();
    const write = async () => {
      if (!batch.length) return;
      this.#readNonceWrites += batch.length;
      if (this.#readNonceWrites >= 5000) {
        this.#readNonceWrites = 0;
        await this.#driver.run('DELETE FROM read_nonces WHERE expires_at < ?', [Date.now()]);
      }
      for (let i = 0; i < batch.length; i += 500) {
        const chunk = batch.slice(i, i + 500);
        await this.#driver.run(
          `INSERT INTO read_nonces (nonce, expires_at) VALUES ${chunk.map(() => '(?, ?)').join(', ')}`,
          chunk.flat(),
        );
      }
    };
    const next = this.#laterFlush.then(write, write);
    this.#laterFlush = next.catch(() => undefined);
    return next;
  }

  async liveNonces(nowMs: number, limit: number): Promise<LiveNonce[]> {
    const rows = await this.#driver.query(
      `SELECT nonce, MAX(expires_at) AS expires_at FROM (
         SELECT nonce, expires_at FROM nonces WHERE expires_at >= ?
         UNION ALL SELECT nonce, expires_at FROM read_nonces WHERE expires_at >= ?
       ) AS live GROUP BY nonce LIMIT ${Math.floor(limit)}`,
      [nowMs, nowMs],
    );
    return rows.map((r) => ({ nonce: r.nonce as string, expiresAt: Number(r.expires_at) }));
  }

  async getAccessKey(accessKeyId: string): Promise<AccessKey | undefined> {
    const rows = await this.#driver.query('SELECT * FROM access_keys WHERE access_key_id = ?', [accessKeyId]);
    if (!rows.length) return undefined;
    return { accessKeyId, accessKeySecret: rows[0].access_key_secret as string, account: rows[0].account as string };
  }

  async putAccessKey(k: AccessKey): Promise<void> {
    await this.#driver.run(
      'INSERT INTO access_keys (access_key_id, access_key_secret, account) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      [k.accessKeyId, k.accessKeySecret, k.account],
    );
  }

  async listAccessKeys(): Promise<AccessKey[]> {
    const rows = await this.#driver.query('SELECT * FROM access_keys ORDER BY access_key_id');
    return rows.map((r) => ({
      accessKeyId: r.access_key_id as string,
      accessKeySecret: r.access_key_secret as string,
      account: r.account as string,
    }));
  }

  async close(): Promise<void> {
    this.#watchers.clear();
    this.#unwatchDriver?.();
    this.#unwatchDriver = undefined;
    await this.flushNonces();
    await this.#driver.close();
  }
}

export async function openStore(url: string): Promise<SqlStore> {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { PostgresDriver } = await import('./postgres.ts');
    return SqlStore.open(new PostgresDriver(url));
  }
  const { SqliteDriver } = await import('./sqlite.ts');
  return SqlStore.open(new SqliteDriver(url.replace(/^sqlite:/, '')));
}
