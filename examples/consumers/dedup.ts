// Deduplication for consumers: the relay delivers at least once, so a consumer may see an event twice
// (a relay restart, a consumer crash before its offset commit or ack). Each consumer records the ids
// of the events it handled in its own database, in the same transaction as the handling's effect:
// the effect happens once per event id, however often the message arrives.
import type pg from 'pg';

export const CREATE_PROCESSED_EVENTS = `
  create table if not exists processed_events (
    consumer text not null,
    event_id uuid not null,
    processed_at timestamptz not null default now(),
    primary key (consumer, event_id)
  )`;

/**
 * Runs `effect` in a transaction that also records (consumer, eventId); when the pair is there
 * already, skips the effect and returns false. Concurrent deliveries of one id serialise on the
 * primary key: the second waits for the first and then skips.
 */
export async function handleOnce(
  pool: pg.Pool,
  consumer: string,
  eventId: string,
  effect: (client: pg.PoolClient) => Promise<void>,
): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rowCount } = await client.query(
      'insert into processed_events (consumer, event_id) values ($1, $2) on conflict do nothing',
      [consumer, eventId],
    );
    if (rowCount === 1) await effect(client);
    await client.query('commit');
    return rowCount === 1;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
