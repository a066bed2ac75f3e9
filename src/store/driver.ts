// The part of a SQL database the store uses: parameterised queries on one connection, and a
// transaction. SQL is written once with `?` placeholders; each driver adapts it to its dialect.

export type Row = Record<string, unknown>;

export interface SqlConn {
  query(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a statement; returns the number of rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /**
   * Inside a transaction: waits until no other transaction holds `key`, and holds it until this one
   * ends, on every server sharing the database. A no-op where transactions are serial anyway (SQLite)
   * and outside a transaction.
   */
  lock(key: string): Promise<void>;
  /**
   * Optional, PostgreSQL inside a transaction only: sends a statement whose answer the caller does not
   * need without waiting for it, so that the statements after it travel with it (pipelined) instead
   * of a round trip each. Statements still run in the order they are issued. Its failure fails the
   * transaction: the next awaited statement on the connection, or the commit, throws it.
   */
  defer?(sql: string, params?: readonly unknown[]): void;
  /**
   * Optional, PostgreSQL inside a transaction only: a statement without parameters (a NOTIFY) sent in
   * the commit's own message, just before COMMIT.
   */
  atCommit?(sql: string): void;
}

export interface SqlDriver extends SqlConn {
  readonly dialect: 'sqlite' | 'postgres';
  /** Runs fn in one transaction; a lock key serialises transactions sharing it (see Store.tx). */
  transaction<T>(fn: (conn: SqlConn) => Promise<T>, lockKey?: string, lockMode?: 'exclusive' | 'shared'): Promise<T>;
  /**
   * Calls `onCommit` when another process (or this one) may have committed: the SQLite file changed,
   * or a PostgreSQL `NOTIFY openeci_changes` (see COMMIT_CHANNEL) arrived. Returns the stop function.
   */
  watchCommits?(onCommit: () => void): () => void;
  close(): Promise<void>;
}

/** The PostgreSQL notification channel a transaction that wrote rows agents converge on notifies (sql-store.ts ANNOUNCED). */
export const COMMIT_CHANNEL = 'openeci_changes';
