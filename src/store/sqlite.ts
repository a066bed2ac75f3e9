// node:sqlite driver. The database is synchronous and the process owns it, so transactions are
// serialised by an in-process queue: an async transaction body cannot interleave with another.
// WAL with synchronous=NORMAL keeps every committed transaction across a kill -9 of the process (the
// WAL is written before COMMIT returns; only an OS crash could lose the tail).

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Row, SqlConn, SqlDriver } from './driver.ts';

export class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;');
  }

  #prepare(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  async query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return this.#prepare(sql).all(...(params as never[])) as Row[];
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    if (params.length === 0 && sql.includes(';')) {
      this.#db.exec(sql);
      return 0;
    }
    return Number(this.#prepare(sql).run(...(params as never[])).changes);
  }

  transaction<T>(fn: (conn: SqlConn) => Promise<T>): Promise<T> {
    const result = this.#queue.then(async () => {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const value = await fn(this);
        this.#db.exec('COMMIT');
        return value;
      } catch (e) {
        this.#db.exec('ROLLBACK');
        throw e;
      }
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    await this.#queue;
    this.#db.close();
  }
}
