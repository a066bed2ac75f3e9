// PostgreSQL driver over `pg`. Transactions run at READ COMMITTED; a lock key takes a transaction-level
// advisory lock so that check-then-act rules (quotas, uniqueness checks) hold across servers.
// Serialisation failures and deadlocks are retried a few times with a fresh transaction.

import pg from 'pg';
import { COMMIT_CHANNEL, type Row, type SqlConn, type SqlDriver } from './driver.ts';

const RETRYABLE = new Set(['40001', '40P01']);

function toPg(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

/**
 * Statements with parameters run as named prepared statements, so PostgreSQL parses and plans each
 * text once per connection rather than on every call (it shares this machine's cores with the
 * server). The names, one per distinct SQL text, are bounded: past PREPARED_MAX texts, new ones run
 * unnamed (the store's texts are few: only IN lists and batch sizes vary).
 */
const PREPARED_MAX = 2000;
const prepared = new Map<string, { name: string; text: string }>();
let generation = 0;
/** Errors of a statement refused for a stale plan: its transaction is retried with fresh names. */
const staleErrors = new WeakSet<object>();

/**
 * A migration applied by a newer server can change what a prepared `SELECT *` returns; PostgreSQL
 * then refuses the old statement. Every statement is then named afresh, and the call retried.
 */
function stalePlan(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  if (err.code !== '0A000' || !/cached plan must not change result type/.test(err.message ?? '')) return false;
  prepared.clear();
  generation++;
  staleErrors.add(e as object);
  return true;
}

function statement(sql: string, params: readonly unknown[]): pg.QueryConfig {
  let p = prepared.get(sql);
  if (!p) {
    const text = toPg(sql);
    if (params.length === 0 || prepared.size >= PREPARED_MAX) return { text, values: params as unknown[] };
    p = { name: `openeci_${generation}_${prepared.size}`, text };
    prepared.set(sql, p);
  }
  return { name: p.name, text: p.text, values: params as unknown[] };
}

class PgConn implements SqlConn {
  readonly #client: pg.Pool | pg.PoolClient;
  constructor(client: pg.Pool | pg.PoolClient) {
    this.#client = client;
  }
  async #exec(sql: string, params: readonly unknown[]): Promise<pg.QueryResult> {
    try {
      return await this.#client.query(statement(sql, params));
    } catch (e) {
      // Inside a transaction the error has aborted it: the transaction is retried (RETRYABLE).
      if (stalePlan(e) && this.#client instanceof pg.Pool) return this.#client.query(statement(sql, params));
      throw e;
    }
  }
  async query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return (await this.#exec(sql, params)).rows;
  }
  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return (await this.#exec(sql, params)).rowCount ?? 0;
  }
  async lock(key: string): Promise<void> {
    // Outside a transaction (the pool) the lock would end with its own statement: nothing to do.
    if (this.#client instanceof pg.Pool) return;
    await this.#client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
  }
}

export class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #conn: PgConn;
  readonly #url: string;

  constructor(connectionString: string, poolSize = 10) {
    this.#url = connectionString;
    this.#pool = new pg.Pool({
      connectionString,
      max: poolSize,
      types: {
        getTypeParser: (oid: number, format?: string) =>
          oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'),
      },
    });
    // An idle connection that the database drops (a restart, a failover) is reported here; without a
    // listener it would crash the process. The pool replaces it on the next checkout.
    this.#pool.on('error', (e) => console.error('postgres: idle connection lost:', e.message));
    this.#conn = new PgConn(this.#pool);
  }

  query(sql: string, params?: readonly unknown[]): Promise<Row[]> {
    return this.#conn.query(sql, params);
  }
  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.#conn.run(sql, params);
  }
  lock(key: string): Promise<void> {
    return this.#conn.lock(key);
  }

  async transaction<T>(fn: (conn: SqlConn) => Promise<T>, lockKey?: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.#pool.connect();
      // A connection whose ROLLBACK failed is in an unknown state: it is destroyed, not pooled.
      let broken: Error | undefined;
      try {
        const conn = new PgConn(client);
        // BEGIN and the lock in one round trip (a simple-protocol query of two statements) when the key
        // can be written as a plain literal: a quote is doubled; a backslash or NUL takes the slow path.
        if (lockKey && !/[\\\0]/.test(lockKey))
          await client.query(`BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('${lockKey.replace(/'/g, "''")}', 0))`);
        else {
          await client.query('BEGIN');
          if (lockKey) await conn.lock(lockKey);
        }
        const value = await fn(conn);
        await client.query('COMMIT');
        return value;
      } catch (e) {
        await client.query('ROLLBACK').catch((r: Error) => (broken = r));
        const code = (e as { code?: string }).code;
        if (((code && RETRYABLE.has(code)) || staleErrors.has(e as object)) && attempt < 5) continue;
        throw e;
      } finally {
        client.release(broken);
      }
    }
  }

  /**
   * LISTEN on one dedicated connection (outside the pool). A lost connection is re-opened after a
   * second, and `onCommit` is called once it listens again, since commits meanwhile were missed.
   */
  watchCommits(onCommit: () => void): () => void {
    let stopped = false;
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    const connect = () => {
      if (stopped) return;
      const c = new pg.Client({ connectionString: this.#url });
      client = c;
      let failed = false;
      const fail = () => {
        if (failed) return;
        failed = true;
        void c.end().catch(() => undefined);
        if (!stopped) retry = setTimeout(connect, 1000);
      };
      c.on('error', fail);
      c.on('end', fail);
      c.on('notification', () => onCommit());
      c.connect()
        .then(() => c.query(`LISTEN ${COMMIT_CHANNEL}`))
        .then(() => onCommit(), fail);
    };
    connect();
    return () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      void client?.end().catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
