// The application side (enqueue.ts) on a plain pg client: the events in one statement, in order.
// The table is `outbox` as the application's search_path finds it, as drizzle's insert does.
import { statement } from './database.js';
import type { Statement } from './database.js';

/** One validated event, as enqueue.ts inserts it. */
export interface OutboxRow {
  id?: string;
  aggregateType: string;
  aggregateId: string;
  eventType: string;
  payload: unknown;
  headers: Record<string, string>;
}

export function insertOutboxRows(rows: readonly OutboxRow[]): Statement<{ id: string }> {
  return statement(
    `insert into outbox (id, aggregate_type, aggregate_id, event_type, payload, headers)
       select coalesce(id, gen_random_uuid()), aggregate_type, aggregate_id, event_type, payload, headers
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[])
           with ordinality as e(id, aggregate_type, aggregate_id, event_type, payload, headers, n)
        order by n
       returning id`,
    [
      rows.map((row) => row.id ?? null),
      rows.map((row) => row.aggregateType),
      rows.map((row) => row.aggregateId),
      rows.map((row) => row.eventType),
      rows.map((row) => JSON.stringify(row.payload)),
      rows.map((row) => JSON.stringify(row.headers)),
    ],
  );
}
