// The Store port: everything the control plane persists. Two implementations share one SQL core
// (src/store/sql-store.ts) over a small Driver: node:sqlite (the default, one process) and PostgreSQL
// (several servers). The contract tests in test/store.contract.test.ts run against both.
//
// Contracts:
// - `tx(fn)` runs fn atomically. On SQLite transactions are serialised in-process; on PostgreSQL each
//   runs in its own transaction, and the optional lock key serialises transactions that share it across
//   every server (an advisory lock), for check-then-act rules such as quotas. A lock taken 'shared'
//   excludes the exclusive holders of the key but not the other shared ones: for transactions whose
//   rules hold among themselves without it (see Tx.insert's cap, Tx.claimIdempotency).
// - `fn` may be retried by the implementation on a serialisation failure, so it must not have effects
//   outside the Tx.
// - Rows are versioned: `update` fails with a Conflict when the row changed since it was read.
// - IP allocation is unique per scope by a primary key, so an address is never handed out twice, even
//   across servers, restarts or a kill -9.

export interface Resource<D = Record<string, unknown>> {
  readonly kind: string;
  readonly id: string;
  readonly account: string;
  readonly region: string;
  /** Indexed copies of fields that list filters use. */
  name: string;
  status: string;
  /** The owning resource (the VPC of a vSwitch, the NAT gateway of an entry), or ''. */
  parent: string;
  readonly createdAt: string;
  /** Insertion order; the paging cursor. */
  readonly seq: number;
  version: number;
  data: D;
}

export type NewResource<D> = Omit<Resource<D>, 'seq' | 'version'>;

export interface ListQuery {
  kind: string;
  account?: string;
  region?: string;
  ids?: readonly string[];
  name?: string;
  status?: string;
  parent?: string;
  /** Return rows with seq greater than this (keyset paging). */
  afterSeq?: number;
  limit?: number;
  /**
   * Decode each row's data only when it is first read (for a caller that may not need it: one that
   * renders from a cache by id and version). The data is then on the prototype, not an own property:
   * such a resource must not be spread or cloned whole.
   */
  lazyData?: boolean;
}

export interface StoredEvent {
  readonly resourceId: string;
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
  readonly count: number;
  readonly firstTimestamp: string;
  readonly lastTimestamp: string;
  readonly seq: number;
}

/**
 * An event of a resource being created (Tx.put): recorded with it, for its account, stamped with its
 * createdAt. A new resource has no earlier events, so each is a new row (consecutive equal ones are
 * counted as addEvent would).
 */
export type NewResourceEvent = Pick<StoredEvent, 'type' | 'reason' | 'message'>;

export interface IdempotencyRecord {
  readonly paramsHash: string;
  readonly response: string;
}

export interface AccessKey {
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly account: string;
}

/** A cap on the count of a kind per account and region, checked by the insert that would pass it. */
export interface CountCap {
  readonly max: number;
  /** The error the insert fails with when the count would exceed max. */
  exceeded(): Error;
}

export interface IpRange {
  readonly first: number;
  readonly last: number;
}

export interface Tx {
  get<D = Record<string, unknown>>(kind: string, id: string): Promise<Resource<D> | undefined>;
  list<D = Record<string, unknown>>(q: ListQuery): Promise<Resource<D>[]>;
  count(q: ListQuery): Promise<number>;
  /**
   * With a cap, fails with cap.exceeded() when the account's count of the kind in the region would
   * pass cap.max. Exact under concurrency: the count is read and bumped under its row's lock, held
   * until the transaction ends (so concurrent inserts of that count take turns from here on).
   */
  insert<D>(r: NewResource<D>, cap?: CountCap): Promise<Resource<D>>;
  /**
   * Inserts like insert without returning the stored row. Inside a PostgreSQL transaction the write
   * is pipelined: it resolves at once and is judged with the next statement or the commit (a passed
   * cap then fails the transaction with cap.exceeded(); the count's row stays locked only from there
   * to the commit). `events` are the new resource's first events, written with it (on PostgreSQL in
   * the same statement).
   */
  put<D>(r: NewResource<D>, cap?: CountCap, events?: readonly NewResourceEvent[]): Promise<void>;
  /** Writes r if its version is still the stored one; bumps the version. Throws Conflict otherwise. */
  update<D>(r: Resource<D>): Promise<Resource<D>>;
  /** Deleting what is already gone succeeds. */
  delete(kind: string, id: string): Promise<void>;

  /**
   * Takes the lowest free address of `ranges` in `scope` (a vSwitch or an EIP pool) for `owner`, or
   * exactly `wanted` when given. Returns undefined when none is free (or `wanted` is taken).
   */
  allocateIp(scope: string, ranges: readonly IpRange[], owner: string, wanted?: number): Promise<number | undefined>;
  releaseIp(scope: string, ip: number): Promise<void>;
  countIps(scope: string): Promise<number>;
  ipOwner(scope: string, ip: number): Promise<string | undefined>;

  getIdempotency(account: string, action: string, token: string): Promise<IdempotencyRecord | undefined>;
  /**
   * Reserves a ClientToken for this transaction (undefined), or returns the record a committed
   * transaction left for it. A transaction holding the token's reservation makes the others wait
   * until it ends (and then they see its record, or reserve the token if it rolled back), so two
   * requests with one token never both run, with or without an account lock.
   */
  claimIdempotency(account: string, action: string, token: string, paramsHash: string, now: string): Promise<IdempotencyRecord | undefined>;
  /** Completes a reservation (or records the token outright); a completed record is never changed. */
  putIdempotency(account: string, action: string, token: string, rec: IdempotencyRecord, now: string): Promise<void>;

  /** Records an event, or bumps the count of the last one with the same reason and message. */
  addEvent(account: string, e: Omit<StoredEvent, 'count' | 'seq' | 'firstTimestamp' | 'lastTimestamp'>, now: string): Promise<void>;
  listEvents(resourceIds: readonly string[], afterSeq?: number, limit?: number): Promise<StoredEvent[]>;
  deleteEvents(resourceId: string): Promise<void>;

  /**
   * Records a signature nonce durably as part of this transaction (it commits or rolls back with it);
   * false when it is recorded and unexpired already. A write's nonce is claimed this way, so a replayed
   * write aborts before its handler runs, on whichever server it arrives.
   */
  claimNonce(nonce: string, nowMs: number, expiresAt: number): Promise<boolean>;
}

export interface LiveNonce {
  readonly nonce: string;
  readonly expiresAt: number;
}

export interface Store extends Tx {
  readonly dialect: 'sqlite' | 'postgres';
  tx<T>(fn: (tx: Tx) => Promise<T>, lockKey?: string, lockMode?: 'exclusive' | 'shared'): Promise<T>;

  /**
   * Records a signature nonce; false when it was already used: claimed (claimNonce, useNonce), or
   * written behind for the very same request (recordNonceLater with expiry nowMs + ttlMs). Expired
   * nonces are purged.
   */
  useNonce(nonce: string, nowMs: number, ttlMs: number): Promise<boolean>;
  /**
   * Queues a read's nonce that the caller has already checked (in memory) for a durable write in the
   * next batch, up to 50 ms later; close() and flushNonces() write what is queued. It is kept
   * apart, in a log (migration 5): liveNonces returns it, and useNonce refuses a replay of
   * the same request (same expiry), but claimNonce does not see it, so another process would accept
   * the nonce on a different (newly signed) write.
   */
  recordNonceLater(nonce: string, expiresAt: number): void;
  flushNonces(): Promise<void>;
  /** Up to `limit` nonces unexpired at nowMs (for a server's in-memory nonce cache at start-up). */
  liveNonces(nowMs: number, limit: number): Promise<LiveNonce[]>;

  /**
   * Calls `listener` soon after a transaction that wrote resource rows commits in this process, and
   * unless `otherProcesses` is false also after commits of other processes sharing the store
   * (PostgreSQL: LISTEN/NOTIFY, sent by transactions that wrote rows host agents converge on: groups,
   * security groups, EIPs, NAT gateways and entries, bandwidth packages; SQLite: the file's
   * directory is watched, so there any write of another process pokes, nonces and events included).
   * A poke, not data: it may come spuriously or coalesced, so the listener re-reads what it needs,
   * and it is a shortcut only (anyone relying on it still re-reads on a timer). Returns the
   * unsubscribe function.
   */
  watch?(listener: () => void, opts?: { readonly otherProcesses?: boolean }): () => void;

  getAccessKey(accessKeyId: string): Promise<AccessKey | undefined>;
  putAccessKey(k: AccessKey): Promise<void>;
  listAccessKeys(): Promise<AccessKey[]>;

  close(): Promise<void>;
}
