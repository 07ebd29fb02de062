import type pg from 'pg';

export interface TestEvent {
  aggregateType: string;
  aggregateId: string;
  eventType: string;
  payload: unknown;
  headers?: Record<string, string>;
}

/** Inserts the events in one transaction together with a business row; returns their ids. */
export async function commitEvents(
  pool: pg.Pool,
  events: TestEvent[],
  { rollback = false } = {},
): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('create table if not exists business_rows (id serial primary key, note text)');
    await client.query(`insert into business_rows (note) values ('a business change')`);
    const { rows } = await client.query<{ id: string }>(
      `insert into outbox (aggregate_type, aggregate_id, event_type, payload, headers)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[])
       returning id`,
      [
        events.map((event) => event.aggregateType),
        events.map((event) => event.aggregateId),
        events.map((event) => event.eventType),
        events.map((event) => JSON.stringify(event.payload)),
        events.map((event) => JSON.stringify(event.headers ?? {})),
      ],
    );
    await client.query(rollback ? 'rollback' : 'commit');
    return rows.map((row) => row.id);
  } finally {
    client.release();
  }
}

export async function outboxCount(pool: pg.Pool, where = 'true'): Promise<number> {
  const { rows } = await pool.query<{ count: string }>(
    `select count(*)::text as count from outbox where ${where}`,
  );
  return Number(rows[0]!.count);
}

export async function confirmedLsn(pool: pg.Pool, slot: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ lsn: string }>(
    `select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1`,
    [slot],
  );
  return rows[0]?.lsn;
}
