// `outbox-relay dead-letters`: inspect the events the relay parked, and put them back into the outbox.
// A retried event is inserted with its original id (consumers that saw an earlier copy deduplicate
// on it) and created_at, and its dead-letter row is deleted in the same transaction, so it is always
// in exactly one of the two tables. Events go back in their original outbox order (outbox_seq,
// recorded when they were parked), one transaction per batch; the relay then publishes them as any
// new insert, in that order.
import { run } from './db/database.js';
import type { Database, Queryable } from './db/database.js';
import * as deadLetterSql from './db/dead-letter-sql.js';
import type { TableName } from './wal/decode.js';

/** One parked event, as `dead-letters list` shows it. */
export interface DeadLetterEntry {
  readonly id: string;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly eventType: string;
  readonly payload: unknown;
  readonly headers: Record<string, string>;
  /** ISO 8601: when the application wrote the event. */
  readonly createdAt: string;
  readonly error: string;
  readonly attempts: number;
  /** ISO 8601: when the relay last parked it. */
  readonly deadLetteredAt: string;
  /** The destination that refused it, as its broker names it (describeDestination), or null when no route matched. */
  readonly destination: string | null;
  /** Its position in the outbox when it was parked (null for rows parked by older versions). */
  readonly outboxSeq: number | null;
}

export interface DeadLetterList {
  /** All parked events, however many are listed. */
  readonly total: number;
  /** In their original outbox order (the order `retry` puts them back in), at most the limit. */
  readonly deadLetters: DeadLetterEntry[];
}

/** Which parked events to retry: the given ids, or every event parked when the retry starts. */
export type RetrySelection = { readonly ids: readonly string[] } | { readonly all: true };

/** A retry that cannot go ahead (an unknown id, an id still in the outbox); names the id. */
export class DeadLetterRetryError extends Error {
  override name = 'DeadLetterRetryError';
}

/** Events per transaction when retrying. */
export const RETRY_BATCH_SIZE = 500;

/** The parked events in their original order, at most `limit`, and how many there are. */
export async function listDeadLetters(db: Queryable, limit: number): Promise<DeadLetterList> {
  const { rows } = await run(db, deadLetterSql.listParked(limit));
  const { rows: count } = await run(db, deadLetterSql.countParked());
  return {
    total: Number(count[0]?.total ?? 0),
    deadLetters: rows.map((row) => ({
      id: row.id,
      aggregateType: row.aggregate_type,
      aggregateId: row.aggregate_id,
      eventType: row.event_type,
      payload: row.payload,
      headers: row.headers,
      createdAt: row.created_at.toISOString(),
      error: row.error,
      attempts: row.attempts,
      deadLetteredAt: row.dead_lettered_at.toISOString(),
      destination: row.destination,
      outboxSeq: row.outbox_seq === null ? null : Number(row.outbox_seq),
    })),
  };
}

/**
 * Moves the selected dead letters back into the outbox table, in their original order, one
 * transaction per batch; returns the ids moved, in that order. With ids, every one must be parked,
 * else nothing is moved. `all` takes the events parked when it starts: events the relay parks again
 * meanwhile wait for the next retry, so a retry never chases its own failures.
 */
export async function retryDeadLetters(
  db: Pick<Database, 'query' | 'transaction'>,
  table: TableName,
  selection: RetrySelection,
  batchSize = RETRY_BATCH_SIZE,
): Promise<string[]> {
  const { rows: bounds } = await run(db, deadLetterSql.retryStart());
  const started = bounds[0]!.started;
  const ids = 'ids' in selection ? [...new Set(selection.ids)] : null;
  if (ids) {
    const { rows } = await run(db, deadLetterSql.parkedAmong(ids));
    const found = new Set(rows.map((row) => row.id));
    const missing = ids.filter((id) => !found.has(id.toLowerCase()));
    if (missing.length > 0) throw notParked(missing);
  }
  const moved: string[] = [];
  for (;;) {
    const batch = await db
      .transaction((tx) => moveBatch(tx, table, started, ids, batchSize))
      .catch((error: unknown) => {
        if (!(error instanceof DeadLetterRetryError) || moved.length === 0) throw error;
        throw new DeadLetterRetryError(`${error.message}; ${moved.length} retried before it`, {
          cause: error.cause,
        });
      });
    moved.push(...batch);
    if (batch.length < batchSize) return moved;
  }
}

async function moveBatch(
  tx: Queryable,
  table: TableName,
  parkedBy: string,
  ids: readonly string[] | null,
  batchSize: number,
): Promise<string[]> {
  // Locked, so two retries running at once cannot both move an event.
  const { rows } = await run(tx, deadLetterSql.lockRetryBatch(parkedBy, ids, batchSize));
  if (rows.length === 0) return [];
  const batch = rows.map((row) => row.id);
  // In `mark` mode the finished row stays in the outbox: replace it. An unfinished one is refused below.
  await run(tx, deadLetterSql.deleteFinishedRows(table, batch));
  try {
    const { rows: inserted } = await run(tx, deadLetterSql.moveBackToOutbox(table, batch));
    return inserted.map((row) => row.id);
  } catch (error) {
    const pgError = error as { code?: string; detail?: string };
    if (pgError.code !== '23505') throw error;
    const id = /\(id\)=\(([^)]+)\)/.exec(pgError.detail ?? '')?.[1] ?? 'of this batch';
    throw new DeadLetterRetryError(
      `dead letter ${id} was not retried: ${table.schema}.${table.name} still holds an unpublished event with ` +
        'this id (retried already? wait for the relay to publish it)',
      { cause: error },
    );
  }
}

function notParked(ids: readonly string[]): DeadLetterRetryError {
  return new DeadLetterRetryError(
    `no dead letter with id ${ids.join(', ')}: nothing was retried ('outbox-relay dead-letters list' shows them)`,
  );
}

/** `dead-letters list` as text: one line per event, the error last, and how many are not shown. */
export function formatDeadLetters(list: DeadLetterList): string {
  if (list.total === 0) return 'no dead letters';
  const header = ['ID', 'DEAD-LETTERED AT', 'ATTEMPTS', 'AGGREGATE', 'EVENT TYPE', 'DESTINATION', 'ERROR'];
  const rows = list.deadLetters.map((entry) => [
    entry.id,
    entry.deadLetteredAt,
    String(entry.attempts),
    `${entry.aggregateType}/${entry.aggregateId}`,
    entry.eventType,
    entry.destination ?? '-',
    entry.error.replaceAll('\n', ' '),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ');
  const shown = list.deadLetters.length;
  const summary =
    shown < list.total
      ? `${list.total} dead letters, the first ${shown} shown (--limit to see more)`
      : `${list.total} dead letter${list.total === 1 ? '' : 's'}`;
  return [line(header), ...rows.map(line), summary].join('\n');
}
