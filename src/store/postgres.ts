// PostgreSQL driver over `pg`. Transactions run at READ COMMITTED; a lock key takes a transaction-level
// advisory lock so that check-then-act rules (quotas, uniqueness checks) hold across servers.
// Serialisation failures and deadlocks are retried a few times with a fresh transaction.

import type { Duplex } from 'node:stream';
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
  /**
   * In a transaction: statements sent whose answers nobody awaits yet (BEGIN, locks, defer), and the
   * first of them to fail. The connection is pipelined (pg's pipeline mode): what is issued is sent at
   * once, runs in order, and a failure aborts the transaction, so every later statement fails too;
   * the first failure is the one reported.
   */
  #pending: Promise<unknown>[] = [];
  #failure: { readonly error: unknown } | undefined;
  /** A transaction's socket, corked until the current burst of statements is issued. */
  readonly #stream: Duplex | undefined;
  #corked = false;
  constructor(client: pg.Pool | pg.PoolClient) {
    this.#client = client;
    this.#stream = client instanceof pg.Pool ? undefined : (client as unknown as pg.Client).connection.stream;
  }

  /**
   * Sends a statement. In a transaction, the statements issued in one burst (until the microtasks
   * run dry) leave in one write: a socket write costs tens of µs of this process's CPU, more than
   * the statement's own handling.
   */
  send(config: string | pg.QueryConfig): Promise<pg.QueryResult> {
    const stream = this.#stream;
    if (stream && !this.#corked) {
      this.#corked = true;
      stream.cork();
      process.nextTick(() => {
        this.#corked = false;
        stream.uncork();
      });
    }
    return this.#client.query(config as pg.QueryConfig);
  }
  /** The first failure of a tracked statement, once it has been answered. */
  get failure(): unknown {
    return this.#failure?.error;
  }
  track(p: Promise<unknown>): void {
    this.#pending.push(p);
    p.catch((e: unknown) => {
      stalePlan(e);
      this.#failure ??= { error: e };
    });
  }
  /** Waits for the tracked statements; throws the first failure. */
  async settle(): Promise<void> {
    while (this.#pending.length) {
      const pending = this.#pending;
      this.#pending = [];
      await Promise.allSettled(pending);
    }
    if (this.#failure) throw this.#failure.error;
  }
  async #exec(sql: string, params: readonly unknown[]): Promise<pg.QueryResult> {
    try {
      return await this.send(statement(sql, params));
    } catch (e) {
      // A tracked statement sent before this one failed first: that is the cause (this one only saw
      // the aborted transaction).
      if (this.#pending.length || this.#failure) await this.settle();
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
  defer(sql: string, params: readonly unknown[] = []): void {
    if (this.#client instanceof pg.Pool) throw new Error('defer is for statements inside a transaction');
    this.track(this.send(statement(sql, params)));
  }
  /** Parameterless statements to send with COMMIT (see SqlConn.atCommit). */
  readonly commitWith: string[] = [];
  atCommit(sql: string): void {
    if (this.#client instanceof pg.Pool) throw new Error('atCommit is for statements inside a transaction');
    this.commitWith.push(sql);
  }

  /**
   * Pipelined like defer: the statements issued after it run once the lock is held, and a failure to
   * take it (a deadlock) fails the transaction.
   */
  async lock(key: string): Promise<void> {
    // Outside a transaction (the pool) the lock would end with its own statement: nothing to do.
    if (this.#client instanceof pg.Pool) return;
    this.track(this.send({ text: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', values: [key] }));
  }
  /** BEGIN (and the transaction's lock) in one simple-protocol query, pipelined like defer. */
  begin(lockKey: string | undefined, shared: boolean): void {
    const fn = shared ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
    // When the key can be written as a plain literal: a quote is doubled; a backslash or NUL takes the
    // extended protocol.
    if (lockKey && !/[\\\0]/.test(lockKey))
      this.track(this.send(`BEGIN; SELECT ${fn}(hashtextextended('${lockKey.replace(/'/g, "''")}', 0))`));
    else {
      this.track(this.send('BEGIN'));
      if (lockKey) this.track(this.send({ text: `SELECT ${fn}(hashtextextended($1, 0))`, values: [lockKey] }));
    }
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
      // Statements issued without waiting (a transaction's BEGIN, locks, deferred writes, reads issued
      // together) are sent at once instead of one round trip each.
      pipeline: true,
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

  async transaction<T>(fn: (conn: SqlConn) => Promise<T>, lockKey?: string, lockMode: 'exclusive' | 'shared' = 'exclusive'): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.#pool.connect();
      // A connection whose ROLLBACK failed is in an unknown state: it is destroyed, not pooled.
      let broken: Error | undefined;
      const conn = new PgConn(client);
      try {
        // Nothing waits for BEGIN and the lock: fn's first statements are sent behind them, and run
        // once the lock is held. COMMIT is sent behind fn's deferred statements; it only commits if
        // all of them succeeded (PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK).
        conn.begin(lockKey, lockMode === 'shared');
        const value = await fn(conn);
        // One simple-protocol message: the atCommit statements, then COMMIT (an error in the first
        // skips the rest, and the transaction is rolled back below).
        const commit = conn.send([...conn.commitWith, 'COMMIT'].join('; '));
        commit.catch(() => undefined);
        await conn.settle();
        const answers = (await commit) as pg.QueryResult | pg.QueryResult[];
        const done = Array.isArray(answers) ? answers[answers.length - 1] : answers;
        if (done.command !== 'COMMIT') throw new Error(`COMMIT ended as ${done.command}`);
        return value;
      } catch (e) {
        await client.query('ROLLBACK').catch((r: Error) => (broken = r));
        // The transaction's own failure (a deadlock on its lock, say) decides on a retry, even when fn
        // reported something else after it.
        const cause = conn.failure ?? e;
        const code = (cause as { code?: string }).code;
        if (((code && RETRYABLE.has(code)) || staleErrors.has(cause as object)) && attempt < 5) continue;
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
