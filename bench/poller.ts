// The alternative users run today, as the baseline: a polling relay. In a loop it takes the oldest
// rows with SELECT ... FOR UPDATE SKIP LOCKED LIMIT n, publishes them through the relay's own routes
// and sinks (outbox-relay's createPublisher: same client settings, headers and batching), deletes
// them and commits; when a poll finds nothing it sleeps for the poll interval. The query says
// `processed_at is null` (every row is, rows being deleted) so that it walks the outbox's index on
// seq, which is partial on that condition: without it PostgreSQL sorts the whole table at every poll.
//
// Run as its own process by the bench: node --import tsx bench/poller.ts --batch 1000 --interval-ms 10
// with the relay's environment (DATABASE_URL, KAFKA_BROKERS or RABBITMQ_URL). It prints one JSON
// line when ready and one per committed batch ({"completed": n}); SIGTERM ends it after the batch.
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPublisher, loadConfig } from '../src/index.js';
import type { OutboxEvent } from '../src/index.js';

// Rows shaped as the events the relay reads from the WAL: the payload as PostgreSQL prints it (the
// message body, never re-serialised), created_at in ISO 8601 with milliseconds (the relay's
// created_at header); headers arrive as an object (enqueue stores only string values).
const SELECT = `select id::text as id, aggregate_type as "aggregateType", aggregate_id as "aggregateId",
    event_type as "eventType", payload::text as payload, headers,
    to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "createdAt"
  from outbox where processed_at is null order by seq limit $1 for update skip locked`;
const DELETE = 'delete from outbox where id = any($1::uuid[])';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { batch: { type: 'string', default: '1000' }, 'interval-ms': { type: 'string', default: '10' } },
  });
  const batchSize = Number(values.batch);
  const intervalMs = Number(values['interval-ms']);
  const config = loadConfig();
  const publisher = await createPublisher(config);
  const client = new pg.Client({ connectionString: config.databaseUrl, application_name: 'outbox-poller' });
  await client.connect();

  let stopping = false;
  process.on('SIGTERM', () => (stopping = true));
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  let completed = 0;
  while (!stopping) {
    await client.query('begin');
    const { rows } = await client.query<OutboxEvent>(SELECT, [batchSize]);
    if (rows.length === 0) {
      await client.query('commit');
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
      continue;
    }
    await Promise.all(rows.map((event) => publisher.publish(event)));
    await client.query(DELETE, [rows.map((event) => event.id)]);
    await client.query('commit');
    completed += rows.length;
    process.stdout.write(`${JSON.stringify({ completed })}\n`);
  }
  await publisher.close();
  await client.end();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `poller: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
