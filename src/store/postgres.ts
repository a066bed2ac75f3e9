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
    this.#conn = new PgConn(this.#pool);
  }

  query(sql: string, params?: readonly unknown[]): Promise<Row[]> {
    return this.#conn.query(sql, params);
  }
  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.#conn.run(sql, params);
  }

  async transaction<T>(fn: (conn: SqlConn) => Promise<T>, lockKey?: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.#pool.connect();
      try {
        await client.query('BEGIN');
        if (lockKey) await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
        const value = await fn(new PgConn(client));
        await client.query('COMMIT');
        return value;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        const code = (e as { code?: string }).code;
        if (code && RETRYABLE.has(code) && attempt < 5) continue;
        throw e;
      } finally {
        client.release();
      }
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
