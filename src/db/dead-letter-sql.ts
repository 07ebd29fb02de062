// `outbox-relay dead-letters` (dead-letters.ts): listing the parked events, and moving them back
// into the outbox in their original order.
import type { TableName } from '../wal/decode.js';
import { statement } from './database.js';
import type { Statement } from './database.js';
import { quoteTable } from './identifiers.js';

// Rows parked before outbox_seq existed have none: they go first, by the time of their event.
const ORIGINAL_ORDER = 'outbox_seq nulls first, created_at, dead_lettered_at, id';

export interface ParkedRow {
  id: string;
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  payload: unknown;
  headers: Record<string, string>;
  created_at: Date;
  error: string;
  attempts: number;
  dead_lettered_at: Date;
  destination: string | null;
  outbox_seq: string | null;
}

/** The parked events in their original order, at most `limit`. */
export function listParked(limit: number): Statement<ParkedRow> {
  return statement(
    `select id, aggregate_type, aggregate_id, event_type, payload, headers, created_at, error, attempts,
            dead_lettered_at, destination, outbox_seq::text
       from outbox_dead_letter order by ${ORIGINAL_ORDER} limit $1`,
    [limit],
  );
}

export function countParked(): Statement<{ total: string }> {
  return statement('select count(*)::text as total from outbox_dead_letter');
}

/** The database's clock: a retry of `all` takes the events parked before it. */
export function retryStart(): Statement<{ started: string }> {
  return statement('select now()::text as started');
}

export function parkedAmong(ids: readonly string[]): Statement<{ id: string }> {
  return statement('select id from outbox_dead_letter where id = any($1::uuid[])', [ids]);
}

// Locked, so two retries running at once cannot both move an event.
export function lockRetryBatch(
  parkedBy: string,
  ids: readonly string[] | null,
  batchSize: number,
): Statement<{ id: string }> {
  return statement(
    `select id from outbox_dead_letter
      where dead_lettered_at <= $1::timestamptz and ($2::uuid[] is null or id = any($2::uuid[]))
      order by ${ORIGINAL_ORDER} limit $3 for update`,
    [parkedBy, ids, batchSize],
  );
}

// In `mark` mode the finished row stays in the outbox: it is replaced.
export function deleteFinishedRows(table: TableName, ids: readonly string[]): Statement {
  return statement(
    `delete from ${quoteTable(table)} where id = any($1::uuid[]) and processed_at is not null`,
    [ids],
  );
}

/** Deletes the dead letters of `ids` and inserts their events into the outbox, in original order. */
export function moveBackToOutbox(table: TableName, ids: readonly string[]): Statement<{ id: string }> {
  return statement(
    `with moved as (delete from outbox_dead_letter where id = any($1::uuid[]) returning *)
       insert into ${quoteTable(table)} (id, aggregate_type, aggregate_id, event_type, payload, headers, created_at)
       select id, aggregate_type, aggregate_id, event_type, payload, headers, created_at
         from moved order by ${ORIGINAL_ORDER}
       returning id`,
    [ids],
  );
}
