// Completion (completion.ts): finishing a batch's rows (delete, or mark processed), parking dead
// letters, and asking which transactions other sessions cannot see yet.
import type { CompletionMode } from '../config.js';
import type { TableName } from '../wal/decode.js';
import type { OutboxEvent } from '../wal/event.js';
import { statement } from './database.js';
import type { Statement } from './database.js';
import { quoteTable } from './identifiers.js';

/** Deletes or marks the rows of `ids`; its row count is how many it completed. */
export function finishRows(table: TableName, mode: CompletionMode, ids: readonly string[]): Statement {
  return statement(
    mode === 'delete'
      ? `delete from ${quoteTable(table)} where id = any($1::uuid[])`
      : `update ${quoteTable(table)} set processed_at = now() where id = any($1::uuid[]) and processed_at is null`,
    [uuidArray(ids)],
  );
}

/**
 * The ids as a uuid[] literal, in one string: they are PostgreSQL's own text of uuid values (hex
 * digits and hyphens), which need no quoting. (pg quotes and escapes each element of an array
 * parameter, several strings per id, for every completed event.)
 */
export function uuidArray(ids: readonly string[]): string {
  return `{${ids.join(',')}}`;
}

/**
 * The batch's xids that a new snapshot does not see yet. A committing transaction whose xid is the
 * newest to finish is not in the snapshot's running list (`xip`) but at or above its `xmax`, so
 * visibility is asked of the snapshot as a whole (`pg_visible_in_snapshot`). pgoutput gives 32-bit
 * xids; each is widened to the xid8 nearest the snapshot's xmax with the same low 32 bits.
 */
export function runningXids(xids: readonly number[]): Statement<{ x: string }> {
  return statement(
    `
  select x::text
    from (select s, pg_snapshot_xmax(s)::text::bigint as xmax
            from (select pg_current_snapshot() as s) current) snap,
         unnest($1::bigint[]) x
   where not pg_visible_in_snapshot(
           (xmax + ((x - xmax) % 4294967296 + 6442450944) % 4294967296 - 2147483648)::text::xid8, s)`,
    [xids],
  );
}

export interface DeadLetterRow {
  readonly event: OutboxEvent;
  readonly error: string;
  readonly destination: string | undefined;
  readonly attempts: number;
}

// A replayed event that fails again keeps one dead-letter row, with all its attempts counted. The
// outbox row is still there (it is completed after this, in the same transaction): its seq records
// the event's original position, for `outbox-relay dead-letters retry`.
export function insertDeadLetters(table: TableName, rows: readonly DeadLetterRow[]): Statement {
  return statement(
    `
  insert into outbox_dead_letter
    (id, aggregate_type, aggregate_id, event_type, payload, headers, created_at, error, destination,
     attempts, outbox_seq)
  select d.*, o.seq
    from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[],
                $7::timestamptz[], $8::text[], $9::text[], $10::int[])
           as d(id, aggregate_type, aggregate_id, event_type, payload, headers, created_at, error,
                destination, attempts)
    left join ${quoteTable(table)} o on o.id = d.id
  on conflict (id) do update set
    error = excluded.error, destination = excluded.destination,
    attempts = outbox_dead_letter.attempts + excluded.attempts, dead_lettered_at = now(),
    outbox_seq = coalesce(excluded.outbox_seq, outbox_dead_letter.outbox_seq)`,
    [
      rows.map(({ event }) => event.id),
      rows.map(({ event }) => event.aggregateType),
      rows.map(({ event }) => event.aggregateId),
      rows.map(({ event }) => event.eventType),
      rows.map(({ event }) => event.payload),
      rows.map(({ event }) => JSON.stringify(event.headers)),
      rows.map(({ event }) => event.createdAt || new Date().toISOString()),
      rows.map((row) => row.error),
      rows.map((row) => row.destination ?? null),
      rows.map((row) => row.attempts),
    ],
  );
}
