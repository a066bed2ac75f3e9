// PostgreSQL driver over `pg`. Transactions run at READ COMMITTED; a lock key takes a transaction-level
// advisory lock so that check-then-act rules (quotas, uniqueness checks) hold across servers.
// Serialisation failures and deadlocks are retried a few times with a fresh transaction.

import { createRequire } from 'node:module';
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

function statement(sql: string, params: readonly unknown[], named = params.length > 0): pg.QueryConfig {
  let p = prepared.get(sql);
  if (!p) {
    const text = toPg(sql);
    if (!named || prepared.size >= PREPARED_MAX) return { text, values: params as unknown[] };
    p = { name: `openeci_${generation}_${prepared.size}`, text };
    prepared.set(sql, p);
  }
  return { name: p.name, text: p.text, values: params as unknown[] };
}

const QueryBase = pg.Query as unknown as new (text: string) => { values?: unknown[]; name?: string };

/**
 * pg.Query built from a config without pg's own copy of it (a generic property-descriptor clone per
 * call, measurable per statement). Still a pg.Query: pg's pipeline mode accepts only those.
 */
class OwnQuery extends QueryBase {
  constructor(config: pg.QueryConfig) {
    super(config.text);
    this.values = config.values;
    this.name = config.name;
  }
}

/** The driver's type parsers: BIGINT (counts, seqs, addresses) as a number. */
const TYPES = {
  getTypeParser: (oid: number, format?: string) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')),
};

const requireCjs = createRequire(import.meta.url);
/** pg's own conversion of a parameter to its wire text (what pg.Query applies). */
const prepareValue = (requireCjs('pg/lib/utils.js') as { prepareValue: (v: unknown) => unknown }).prepareValue;

/** The parts of pg's Connection a Batch writes with (pg's Query uses the same). */
interface PgConnection {
  readonly stream: Duplex;
  readonly parsedStatements: Record<string, string | undefined>;
  readonly submittedNamedStatements: Record<string, string | undefined>;
  parse(q: { text: string; name: string }): void;
  bind(c: { portal: string; statement: string; values: readonly unknown[] }): void;
  describe(c: { type: 'P'; name: string }): void;
  execute(c: { portal: string; rows: number }): void;
  sync(): void;
}

interface FieldDescription {
  readonly name: string;
  readonly dataTypeID: number;
  readonly format?: string;
}

interface BatchItem {
  readonly text: string;
  readonly name: string | undefined;
  readonly values: readonly unknown[];
  resolve(r: pg.QueryResult): void;
  reject(e: unknown): void;
  /** This batch sent the statement's Parse (its name is pg's "submitted" until PostgreSQL answers). */
  parsedHere: boolean;
  fields: readonly FieldDescription[];
  parsers: ((v: string) => unknown)[];
  rows: Record<string, unknown>[];
}

const BatchBase = pg.Query as unknown as new (text: string) => object;
const COMMAND = /^([A-Za-z]+)(?: (\d+))?(?: (\d+))?/;

/**
 * Statements of one transaction issued together, sent as ONE extended-protocol exchange: each
 * statement's Parse (once per connection for a named one), Bind, Describe and Execute, then a single
 * Sync. PostgreSQL answers each in order and flushes its answers once, at the Sync: one packet (and
 * one wake-up of each side) for the batch instead of one per statement, which measured as a large
 * share of both processes' CPU per statement. When a statement fails PostgreSQL skips the rest up to
 * the Sync (its transaction is aborted anyway): they fail with the same error, so the first failure
 * is the one every later statement reports, as when each had its own Sync.
 *
 * To pg it is one pg.Query (its pipeline mode accepts no other kind): every message up to the
 * ReadyForQuery is routed here. pg reads `name` and `text` of the active query to track what was
 * parsed; they name the statement being answered.
 */
class Batch extends BatchBase {
  readonly items: BatchItem[] = [];
  /** The statement being answered. */
  #at = 0;
  #done = false;
  constructor() {
    super('');
  }
  get name(): string | undefined {
    return this.items?.[this.#at]?.name;
  }
  set name(_: string | undefined) {}
  get text(): string | undefined {
    return this.items?.[this.#at]?.text;
  }
  set text(_: string | undefined) {}

  submit(connection: PgConnection): Error | null {
    // Parameters are converted before anything is written: a value pg cannot send fails the batch
    // (pg then reports the returned error through handleError) instead of leaving half of it sent.
    let values: unknown[][];
    try {
      values = this.items.map((it) => it.values.map((v) => prepareValue(v)));
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
    connection.stream.cork();
    try {
      for (const [i, it] of this.items.entries()) {
        if (it.name) {
          const known = connection.parsedStatements[it.name] ?? connection.submittedNamedStatements[it.name];
          if (known === undefined) {
            connection.parse({ text: it.text, name: it.name });
            connection.submittedNamedStatements[it.name] = it.text;
            it.parsedHere = true;
          }
        } else connection.parse({ text: it.text, name: '' });
        connection.bind({ portal: '', statement: it.name ?? '', values: values[i] });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '', rows: 0 });
      }
      connection.sync();
    } finally {
      connection.stream.uncork();
    }
    return null;
  }
  handleRowDescription(msg: { fields: FieldDescription[] }): void {
    const it = this.items[this.#at];
    it.fields = msg.fields;
    it.parsers = msg.fields.map((f) => TYPES.getTypeParser(f.dataTypeID, f.format ?? 'text') as (v: string) => unknown);
  }
  handleDataRow(msg: { fields: (string | null)[] }): void {
    const it = this.items[this.#at];
    const row: Record<string, unknown> = {};
    for (let i = 0; i < it.fields.length; i++) {
      const v = msg.fields[i];
      row[it.fields[i].name] = v === null ? null : it.parsers[i](v);
    }
    it.rows.push(row);
  }
  handleCommandComplete(msg: { text: string }): void {
    const it = this.items[this.#at++];
    const m = COMMAND.exec(msg.text);
    const count = m?.[3] ?? m?.[2];
    it.resolve({ command: m?.[1] ?? '', rowCount: count === undefined ? null : Number(count), rows: it.rows, fields: it.fields, oid: 0 } as unknown as pg.QueryResult);
  }
  handleEmptyQuery(): void {
    this.items[this.#at++].resolve({ command: '', rowCount: null, rows: [], fields: [], oid: 0 } as unknown as pg.QueryResult);
  }
  handleError(err: unknown, connection?: PgConnection): void {
    if (this.#done) return;
    this.#done = true;
    for (let i = this.#at; i < this.items.length; i++) {
      const it = this.items[i];
      // A Parse that PostgreSQL skipped created nothing: the next use must send it again.
      if (i > this.#at && it.parsedHere && it.name && connection) delete connection.submittedNamedStatements[it.name];
      it.reject(err);
    }
  }
  handleReadyForQuery(): void {
    if (this.#done) return;
    this.#done = true;
    for (let i = this.#at; i < this.items.length; i++) this.items[i].reject(new Error('PostgreSQL did not answer a statement of the batch'));
  }
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}
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
  /** In a transaction: the statements issued in the current burst, not sent yet (see send). */
  #batch: Batch | undefined;
  constructor(client: pg.Pool | pg.PoolClient) {
    this.#client = client;
  }

  /**
   * Sends a statement. In a transaction, the statements issued in one burst (until the microtasks
   * run dry) leave together as one Batch: one socket write and one answer from PostgreSQL for all.
   */
  send(config: pg.QueryConfig): Promise<pg.QueryResult> {
    const client = this.#client;
    // The pool sets the callback itself (it releases its connection there).
    if (client instanceof pg.Pool) return client.query(new OwnQuery(config) as unknown as pg.QueryConfig);
    let batch = this.#batch;
    if (!batch) {
      batch = this.#batch = new Batch();
      process.nextTick(() => this.flush());
    }
    const items = batch.items;
    return new Promise((resolve, reject) => {
      items.push({ text: config.text, name: config.name, values: (config.values ?? []) as unknown[], resolve, reject, parsedHere: false, fields: [], parsers: [], rows: [] });
    });
  }
  /** Sends the statements issued so far (before anything else uses the connection directly). */
  flush(): void {
    const batch = this.#batch;
    if (!batch) return;
    this.#batch = undefined;
    (this.#client as pg.PoolClient).query(batch as unknown as pg.Submittable);
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
    this.track(this.send(statement('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [key])));
  }
  /** BEGIN and the transaction's lock, pipelined like defer (prepared statements: nothing is parsed per transaction). */
  begin(lockKey: string | undefined, shared: boolean): void {
    const fn = shared ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
    this.track(this.send(statement('BEGIN', [], true)));
    if (lockKey) this.track(this.send(statement(`SELECT ${fn}(hashtextextended(?, 0))`, [lockKey])));
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
      types: TYPES,
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
        // The atCommit statements, then COMMIT, in the batch of fn's last statements (a failure in
        // any of them skips the rest, and the transaction is rolled back below).
        for (const sql of conn.commitWith) conn.track(conn.send(statement(sql, [], true)));
        const commit = conn.send(statement('COMMIT', [], true));
        commit.catch(() => undefined);
        await conn.settle();
        const done = await commit;
        if (done.command !== 'COMMIT') throw new Error(`COMMIT ended as ${done.command}`);
        return value;
      } catch (e) {
        // Whatever fn issued last goes first (in order), then the ROLLBACK.
        conn.flush();
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
