// What the relay needs from PostgreSQL, apart from the replication stream: statements run through
// a narrow query(text, values) interface, and the few things that need one connection of their own.
// The builders (db/*-sql.ts) return Statements; db/postgres.ts is the one adapter that opens pg's
// pools and clients. pg's Pool and Client satisfy Queryable as they are.

/** Runs one statement: a pool, one connection, or a transaction's connection. */
export interface Queryable {
  query(text: string, values?: readonly unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

declare const rowShape: unique symbol;

/** A statement built by a db/*-sql.ts module: its text, its values and (in its type) its rows. */
export interface Statement<Row = unknown> {
  readonly text: string;
  readonly values: readonly unknown[];
  /** Never set: carries the shape of the statement's rows to `run`. */
  readonly [rowShape]?: Row;
}

export function statement<Row = unknown>(text: string, values: readonly unknown[] = []): Statement<Row> {
  return { text, values };
}

/** Runs a built statement; `rowCount` is the rows returned or changed (0 when PostgreSQL says none). */
export async function run<Row>(
  db: Queryable,
  { text, values }: Statement<Row>,
): Promise<{ rows: Row[]; rowCount: number }> {
  const { rows, rowCount } = await db.query(text, values);
  return { rows: rows as Row[], rowCount: rowCount ?? 0 };
}

/** A connection kept until released. */
export interface Connection extends Queryable {
  /** Ends it, or gives it back to its pool; `broken` (after a failure) discards it instead. */
  release(broken?: boolean): Promise<void>;
}

/** A connection outside the pool, e.g. one holding a session-level advisory lock. */
export interface Session extends Connection {
  /** Aborted when the connection fails or ends. */
  readonly lost: AbortSignal;
}

/** The relay's database: a pool, plus what needs a connection of its own. Callers pick what they use. */
export interface Database extends Queryable {
  /** Runs `work` in one transaction on one connection: committed, or rolled back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** A pooled connection whose rows come back as PostgreSQL's text, as the WAL delivers them. */
  reserveTextConnection(): Promise<Connection>;
  /** A replication-protocol connection, for walsender commands (CREATE_REPLICATION_SLOT). */
  connectReplication(): Promise<Connection>;
  /** A connection of its own, outside the pool, named `applicationName` in pg_stat_activity. */
  connectSession(applicationName: string): Promise<Session>;
  /** Closes the pool. */
  end(): Promise<void>;
}
