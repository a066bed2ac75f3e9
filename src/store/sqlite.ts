// node:sqlite driver. The database is synchronous and the process owns it, so transactions are
// serialised by an in-process queue: an async transaction body cannot interleave with another.
// WAL with synchronous=NORMAL keeps every committed transaction across a kill -9 of the process (the
// WAL is written before COMMIT returns; only an OS crash could lose the tail).
//
// There is one connection, so a statement issued outside a transaction while another request's
// transaction is open would run inside it: it would read that transaction's uncommitted rows and be
// rolled back with it. Such statements therefore wait until no transaction is open. Statements issued
// from inside a transaction body (found through AsyncLocalStorage, whichever object they call) run
// in it, and a nested `transaction` joins the open one instead of deadlocking on the queue.

import { AsyncLocalStorage } from 'node:async_hooks';
import { watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Row, SqlConn, SqlDriver } from './driver.ts';

export class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #statements = new Map<string, StatementSync>();
  /** The transaction the current async context runs in; `open` turns false once it has ended. */
  readonly #inTx = new AsyncLocalStorage<{ open: boolean }>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.#path = path;
    this.#db = new DatabaseSync(path);
    // A 64 MiB page cache (the default is 2 MiB) keeps the indexes of a large store in memory. A WAL
    // of up to 10,000 pages (40 MiB) before a checkpoint: each checkpoint syncs to disk and blocks
    // this single-threaded process, and pages rewritten between checkpoints are copied back once.
    this.#db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=10000;');
  }

  #prepare(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  /** Runs a statement now when it belongs to the open transaction or none is open; else after it. */
  #outside<T>(statement: () => T): Promise<T> {
    if (this.#inTx.getStore()?.open || !this.#db.isTransaction) {
      try {
        return Promise.resolve(statement());
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const result = this.#queue.then(statement);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #all(sql: string, params: readonly unknown[]): Row[] {
    return this.#prepare(sql).all(...(params as never[])) as Row[];
  }

  #run(sql: string, params: readonly unknown[]): number {
    if (params.length === 0 && sql.includes(';')) {
      this.#db.exec(sql);
      return 0;
    }
    return Number(this.#prepare(sql).run(...(params as never[])).changes);
  }

  query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return this.#outside(() => this.#all(sql, params));
  }

  run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return this.#outside(() => this.#run(sql, params));
  }

  /** Transactions are serial in-process, and another process's writer waits on BEGIN IMMEDIATE. */
  async lock(): Promise<void> {}

  transaction<T>(fn: (conn: SqlConn) => Promise<T>): Promise<T> {
    if (this.#inTx.getStore()?.open) return fn(this);
    const result = this.#queue.then(() => {
      const frame = { open: true };
      return this.#inTx.run(frame, async () => {
        this.#db.exec('BEGIN IMMEDIATE');
        try {
          const value = await fn(this);
          this.#db.exec('COMMIT');
          return value;
        } catch (e) {
          if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
          throw e;
        } finally {
          frame.open = false;
        }
      });
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Another process's commit writes the WAL (or, after a checkpoint, the database file): the
   * directory is watched (inotify) for either name, which survives the WAL being deleted and
   * re-created. Reads write neither (the wal-index is shared memory). An in-memory database has no
   * other writer.
   */
  watchCommits(onCommit: () => void): () => void {
    if (!this.#path || this.#path === ':memory:' || this.#path.startsWith('file:')) return () => undefined;
    const file = resolve(this.#path);
    const names = new Set([basename(file), `${basename(file)}-wal`]);
    try {
      const w = watch(dirname(file), { persistent: false }, (_event, name) => {
        if (name && names.has(String(name))) onCommit();
      });
      w.on('error', () => undefined);
      return () => w.close();
    } catch {
      return () => undefined;
    }
  }

  async close(): Promise<void> {
    await this.#queue;
    this.#db.close();
  }
}
