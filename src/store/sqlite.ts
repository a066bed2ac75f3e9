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

interface WaitingTx {
  readonly fn: (conn: SqlConn) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(e: unknown): void;
}

/** At most this many transactions share a commit (each one waits for the whole group). */
const GROUP_MAX = 32;

export class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #statements = new Map<string, StatementSync>();
  /** The transaction the current async context runs in; `open` turns false once it has ended. */
  readonly #inTx = new AsyncLocalStorage<{ open: boolean }>();
  #queue: Promise<unknown> = Promise.resolve();
  /** Transactions waiting for a group (see transaction), and whether a group is queued to take them. */
  readonly #waiting: WaitingTx[] = [];
  #drainQueued = false;
  /** Statements queued behind the open transaction: a group takes no one who arrived after them. */
  #outsideQueued = 0;

  constructor(path: string) {
    this.#path = path;
    this.#db = new DatabaseSync(path);
    // A 64 MiB page cache (the default is 2 MiB) keeps the indexes of a large store in memory. A WAL
    // of up to 10,000 pages (40 MiB) before a checkpoint: each checkpoint syncs to disk and blocks
    // this single-threaded process, and pages rewritten between checkpoints are copied back once.
    this.#db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=10000; PRAGMA temp_store=MEMORY;');
    // temp_store: the savepoint of each member of a group commit (see transaction) journals the pages
    // it changes; in memory, not in a temporary file.
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
    this.#outsideQueued++;
    const result = this.#queue.then(() => {
      this.#outsideQueued--;
      return statement();
    });
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

  /**
   * Group commit: transactions queued while others run are run together, one after another, in one
   * SQLite transaction, each inside its own savepoint (so each commits or rolls back on its own as
   * far as anyone can see), and are answered only once that transaction has committed. A commit
   * writes every page it changed to the WAL; pages shared by the group (counters, index and table
   * leaves) are then written once per group instead of once per transaction, the largest cost of a
   * small write here. Nothing is answered before it is durable (as before, a kill -9 loses nothing
   * committed), and a failure of the whole transaction fails every member not yet answered.
   */
  transaction<T>(fn: (conn: SqlConn) => Promise<T>): Promise<T> {
    if (this.#inTx.getStore()?.open) return fn(this);
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      // A group starts at the end of this turn of the event loop, so that it takes every transaction
      // the requests read in this turn started (one at a time, each would be alone).
      this.#queueDrain(true);
    });
  }

  /** Queues a group behind what the connection runs now, unless one is queued already. */
  #queueDrain(afterThisTurn: boolean): void {
    if (this.#drainQueued) return;
    this.#drainQueued = true;
    const start = afterThisTurn ? this.#queue.then(() => new Promise<void>((r) => setImmediate(r))) : this.#queue;
    const run = start.then(() => this.#drain());
    this.#queue = run.catch(() => undefined);
  }

  /** A transaction-control statement, prepared once (exec would parse it every time). */
  #control(sql: string): void {
    this.#prepare(sql).run();
  }

  async #drain(): Promise<void> {
    // Transactions arriving from here on join this group while it runs, or queue the next one.
    this.#drainQueued = false;
    if (!this.#waiting.length) return;
    const done: { readonly t: WaitingTx; value?: unknown; error?: { readonly e: unknown } }[] = [];
    try {
      this.#control('BEGIN IMMEDIATE');
    } catch (e) {
      for (const t of this.#waiting.splice(0)) t.reject(e);
      return;
    }
    let lost: { readonly e: unknown } | undefined;
    try {
      while (this.#waiting.length && done.length < GROUP_MAX && (done.length === 0 || this.#outsideQueued === 0)) {
        const member: (typeof done)[number] = { t: this.#waiting.shift()! };
        done.push(member);
        const frame = { open: true };
        this.#control('SAVEPOINT member');
        try {
          member.value = await this.#inTx.run(frame, () => member.t.fn(this));
          this.#control('RELEASE member');
        } catch (e) {
          member.error = { e };
          // SQLite may have rolled the whole transaction back (an I/O error, say): the group is lost.
          if (!this.#db.isTransaction) throw e;
          this.#control('ROLLBACK TO member');
          this.#control('RELEASE member');
        } finally {
          frame.open = false;
        }
      }
      this.#control('COMMIT');
    } catch (e) {
      lost = { e };
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
    }
    for (const d of done) {
      if (d.error) d.t.reject(d.error.e);
      else if (lost) d.t.reject(lost.e);
      else d.t.resolve(d.value);
    }
    if (this.#waiting.length) this.#queueDrain(false);
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
