// The Store implemented once in portable SQL over a SqlDriver (node:sqlite or PostgreSQL).

import { ApiError } from '../core/errors.ts';
import type { Row, SqlConn, SqlDriver } from './driver.ts';
import { MIGRATIONS } from './migrations.ts';
import type {
  AccessKey,
  IdempotencyRecord,
  IpRange,
  ListQuery,
  NewResource,
  Resource,
  Store,
  StoredEvent,
  Tx,
} from './store.ts';

function toResource<D>(r: Row): Resource<D> {
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
    data: JSON.parse(r.data as string) as D,
  };
}

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

class SqlTx implements Tx {
  protected readonly conn: SqlConn;
  constructor(conn: SqlConn) {
    this.conn = conn;
  }

  async get<D>(kind: string, id: string): Promise<Resource<D> | undefined> {
    const rows = await this.conn.query('SELECT * FROM resources WHERE id = ? AND kind = ?', [id, kind]);
    return rows.length ? toResource<D>(rows[0]) : undefined;
  }

  async list<D>(q: ListQuery): Promise<Resource<D>[]> {
    const w = where(q);
    const limit = q.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(q.limit))}` : '';
    const rows = await this.conn.query(`SELECT * FROM resources WHERE ${w.sql} ORDER BY seq${limit}`, w.params);
    return rows.map((r) => toResource<D>(r));
  }

  async count(q: ListQuery): Promise<number> {
    const w = where({ ...q, afterSeq: undefined });
    const rows = await this.conn.query(`SELECT COUNT(*) AS n FROM resources WHERE ${w.sql}`, w.params);
    return Number(rows[0].n);
  }

  async insert<D>(r: NewResource<D>): Promise<Resource<D>> {
    const rows = await this.conn.query(
      `INSERT INTO resources (kind, id, account, region, name, status, parent, created_at, version, data)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?) RETURNING seq`,
      [r.kind, r.id, r.account, r.region, r.name, r.status, r.parent, r.createdAt, JSON.stringify(r.data)],
    );
    return { ...r, seq: Number(rows[0].seq), version: 1 };
  }

  async update<D>(r: Resource<D>): Promise<Resource<D>> {
    const changed = await this.conn.run(
      `UPDATE resources SET name = ?, status = ?, parent = ?, data = ?, version = version + 1
       WHERE id = ? AND version = ?`,
      [r.name, r.status, r.parent, JSON.stringify(r.data), r.id, r.version],
    );
    if (changed !== 1)
      throw new ApiError('Conflict', 'OperationConflict', `The resource ${r.id} was changed by another request; retry.`);
    return { ...r, version: r.version + 1 };
  }

  async delete(kind: string, id: string): Promise<void> {
    await this.conn.run('DELETE FROM resources WHERE id = ? AND kind = ?', [id, kind]);
  }

  async allocateIp(scope: string, ranges: readonly IpRange[], owner: string, wanted?: number): Promise<number | undefined> {
    const insert = (ip: number) =>
      this.conn.run('INSERT INTO ip_allocations (scope, ip, owner) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [scope, ip, owner]);
    if (wanted !== undefined) {
      if (!ranges.some((r) => wanted >= r.first && wanted <= r.last)) return undefined;
      return (await insert(wanted)) === 1 ? wanted : undefined;
    }
    for (const range of ranges) {
      // A concurrent server may take the candidate between the search and the insert; search again.
      for (let attempt = 0; attempt < 64; attempt++) {
        const candidate = await this.#lowestFree(scope, range);
        if (candidate === undefined) break;
        if ((await insert(candidate)) === 1) return candidate;
      }
    }
    return undefined;
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
    await this.conn.run('DELETE FROM ip_allocations WHERE scope = ? AND ip = ?', [scope, ip]);
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
      'SELECT params_hash, response FROM idempotency WHERE account = ? AND action = ? AND token = ?',
      [account, action, token],
    );
    return rows.length ? { paramsHash: rows[0].params_hash as string, response: rows[0].response as string } : undefined;
  }

  async putIdempotency(account: string, action: string, token: string, rec: IdempotencyRecord, now: string): Promise<void> {
    await this.conn.run(
      'INSERT INTO idempotency (account, action, token, params_hash, response, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      [account, action, token, rec.paramsHash, rec.response, now],
    );
  }

  async addEvent(
    account: string,
    e: Omit<StoredEvent, 'count' | 'seq' | 'firstTimestamp' | 'lastTimestamp'>,
    now: string,
  ): Promise<void> {
    const last = await this.conn.query(
      'SELECT seq, reason, message FROM events WHERE resource_id = ? ORDER BY seq DESC LIMIT 1',
      [e.resourceId],
    );
    if (last.length && last[0].reason === e.reason && last[0].message === e.message) {
      await this.conn.run('UPDATE events SET count = count + 1, last_ts = ? WHERE seq = ?', [now, last[0].seq]);
      return;
    }
    await this.conn.run(
      'INSERT INTO events (resource_id, account, type, reason, message, count, first_ts, last_ts) VALUES (?, ?, ?, ?, ?, 1, ?, ?)',
      [e.resourceId, account, e.type, e.reason, e.message, now, now],
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
}

export class SqlStore extends SqlTx implements Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly #driver: SqlDriver;
  #nonceWrites = 0;

  private constructor(driver: SqlDriver) {
    super(driver);
    this.#driver = driver;
    this.dialect = driver.dialect;
  }

  /** Opens the store and applies pending migrations. Safe to call from several servers at once. */
  static async open(driver: SqlDriver): Promise<SqlStore> {
    const store = new SqlStore(driver);
    await store.#migrate();
    return store;
  }

  async #migrate(): Promise<void> {
    await this.#driver.run('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    await this.#driver.transaction(async (conn) => {
      const done = new Set((await conn.query('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
      for (const m of MIGRATIONS) {
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

  tx<T>(fn: (tx: Tx) => Promise<T>, lockKey?: string): Promise<T> {
    return this.#driver.transaction((conn) => fn(new SqlTx(conn)), lockKey);
  }

  async useNonce(nonce: string, nowMs: number, ttlMs: number): Promise<boolean> {
    if (++this.#nonceWrites % 1000 === 0) await this.#driver.run('DELETE FROM nonces WHERE expires_at < ?', [nowMs]);
    const inserted = await this.#driver.run('INSERT INTO nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING', [
      nonce,
      nowMs + ttlMs,
    ]);
    if (inserted === 1) return true;
    // A nonce whose window has passed may be used again (its request would fail the time check anyway).
    return (await this.#driver.run('UPDATE nonces SET expires_at = ? WHERE nonce = ? AND expires_at < ?', [nowMs + ttlMs, nonce, nowMs])) === 1;
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

  close(): Promise<void> {
    return this.#driver.close();
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
