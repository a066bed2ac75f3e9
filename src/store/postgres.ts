// PostgreSQL driver over `pg`. Transactions run at READ COMMITTED; a lock key takes a transaction-level
// advisory lock so that check-then-act rules (quotas, uniqueness checks) hold across servers.
// Serialisation failures and deadlocks are retried a few times with a fresh transaction.

import pg from 'pg';
import type { Row, SqlConn, SqlDriver } from './driver.ts';

const RETRYABLE = new Set(['40001', '40P01']);

function toPg(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

class PgConn implements SqlConn {
  readonly #client: pg.Pool | pg.PoolClient;
  constructor(client: pg.Pool | pg.PoolClient) {
    this.#client = client;
  }
  async query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return (await this.#client.query(toPg(sql), params as unknown[])).rows;
  }
  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return (await this.#client.query(toPg(sql), params as unknown[])).rowCount ?? 0;
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

  constructor(connectionString: string, poolSize = 10) {
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
        await client.query('BEGIN');
        const conn = new PgConn(client);
        if (lockKey) await conn.lock(lockKey);
        const value = await fn(conn);
        await client.query('COMMIT');
        return value;
      } catch (e) {
        await client.query('ROLLBACK').catch((r: Error) => (broken = r));
        const code = (e as { code?: string }).code;
        if (code && RETRYABLE.has(code) && attempt < 5) continue;
        throw e;
      } finally {
        client.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
