// The quick-start demo: a service writes its orders and their events in one transaction each; the
// relay (the built CLI, as a user runs it) carries the events from the WAL to Kafka; we read them
// back from the broker. Run through `npm run demo`, which starts the local services first.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { enqueue, enqueueMany } from '../src/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PG_PORT = process.env.OUTBOX_PG_PORT ?? '15432';
const KAFKA = `127.0.0.1:${process.env.OUTBOX_KAFKA_PORT ?? '19092'}`;
const DATABASE = 'outbox_demo';
const ADMIN_URL = `postgres://postgres@127.0.0.1:${PG_PORT}/postgres`;
const DATABASE_URL = `postgres://postgres@127.0.0.1:${PG_PORT}/${DATABASE}`;
const TOPICS = ['outbox.order', 'outbox.customer'];

// The application's own table, written in the same transaction as the events.
const orders = pgTable('orders', {
  id: serial('id').primaryKey(),
  customer: text('customer').notNull(),
  totalCents: integer('total_cents').notNull(),
});

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function recreateDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    // A slot pins its database: drop the previous run's first.
    await admin.query(
      `select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = $1 and not active`,
      [DATABASE],
    );
    await admin.query(`drop database if exists ${DATABASE} with (force)`);
    await admin.query(`create database ${DATABASE}`);
  } finally {
    await admin.end();
  }
}

function cli(args: string[]): ChildProcess {
  return spawn(`${ROOT}/bin/outbox-relay`, args, {
    env: { ...process.env, DATABASE_URL, KAFKA_BROKERS: KAFKA, METRICS_PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** Prints the relay's JSON log lines as short lines; resolves when a line with `msg` appears. */
function followLog(relay: ChildProcess, msg: string): Promise<void> {
  return new Promise((resolve) => {
    let partial = '';
    relay.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as { msg?: string; metrics?: string };
          say(`  [relay] ${entry.msg ?? line}${entry.metrics ? ` (${entry.metrics})` : ''}`);
          if (entry.msg === msg) resolve();
        } catch {
          say(`  [relay] ${line}`);
        }
      }
    });
  });
}

async function waitUntil(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function main(): Promise<void> {
  say('1. a fresh database, migrated by the relay');
  await recreateDatabase();
  const migrate = cli(['migrate']);
  migrate.stdout!.pipe(process.stdout);
  const [migrateCode] = (await once(migrate, 'exit')) as [number];
  if (migrateCode !== 0) throw new Error(`outbox-relay migrate exited with ${migrateCode}`);
  const pool = new pg.Pool({ connectionString: DATABASE_URL });
  await pool.query(
    'create table orders (id serial primary key, customer text not null, total_cents int not null)',
  );

  say('2. topics, and a consumer reading what arrives on them from now on');
  const kafka = new Kafka({ clientId: 'outbox-demo', brokers: [KAFKA], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  // Earlier demo runs left their messages on the topics: this run's start at the current ends.
  const startOffsets = new Map<string, bigint>();
  // A broker that has just started may not have elected its partitions' leaders yet: ask again.
  await waitUntil('the topics and their leaders', async () => {
    try {
      await admin.createTopics({
        topics: TOPICS.map((topic) => ({ topic, numPartitions: 3 })),
        waitForLeaders: true,
      });
      for (const topic of TOPICS) {
        for (const { partition, offset } of await admin.fetchTopicOffsets(topic))
          startOffsets.set(`${topic}/${partition}`, BigInt(offset));
      }
      return true;
    } catch {
      return false;
    }
  });
  await admin.disconnect();
  const received: string[] = [];
  const consumer = kafka.consumer({ groupId: `outbox-demo-${Date.now()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: TOPICS, fromBeginning: true });
  await consumer.run({
    eachMessage: ({ topic, partition, message }) => {
      if (BigInt(message.offset) < (startOffsets.get(`${topic}/${partition}`) ?? 0n))
        return Promise.resolve();
      const header = (name: string): string => message.headers?.[name]?.toString() ?? '';
      received.push(header('id'));
      say(
        `  [kafka] ${topic}/${partition} key=${message.key?.toString()} ${header('event_type')} ` +
          `id=${header('id')} ${message.value?.toString()}`,
      );
      return Promise.resolve();
    },
  });

  say('3. outbox-relay run');
  const started = Date.now();
  const relay = cli(['run']);
  try {
    await followLog(relay, 'streaming');
    await runBusiness(pool, received, started, relay);
  } finally {
    if (relay.exitCode === null && relay.signalCode === null) relay.kill('SIGKILL');
    await consumer.disconnect();
    await pool.end();
  }
}

async function runBusiness(
  pool: pg.Pool,
  received: string[],
  started: number,
  relay: ChildProcess,
): Promise<void> {
  const db = drizzle(pool);

  say('4. business transactions: each writes an order and its events, or rolls both back');
  const committed: string[] = [];
  for (const [customer, totalCents] of [
    ['ada', 4200],
    ['grace', 1999],
    ['ada', 350],
  ] as const) {
    const ids = await db.transaction(async (tx) => {
      const [order] = await tx.insert(orders).values({ customer, totalCents }).returning({ id: orders.id });
      return enqueueMany(tx, [
        {
          aggregateType: 'order',
          aggregateId: String(order!.id),
          eventType: 'OrderPlaced',
          payload: { orderId: order!.id, customer, totalCents },
          headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
        },
        {
          aggregateType: 'customer',
          aggregateId: customer,
          eventType: 'CustomerOrdered',
          payload: { customer },
        },
      ]);
    });
    committed.push(...ids);
    say(`  committed order for ${customer}: events ${ids.join(', ')}`);
  }
  await db
    .transaction(async (tx) => {
      await tx.insert(orders).values({ customer: 'mallory', totalCents: 1 });
      await enqueue(tx, { aggregateType: 'order', aggregateId: 'x', eventType: 'OrderPlaced', payload: {} });
      tx.rollback();
    })
    .catch(() => say('  rolled back an order and its event: nothing to publish'));

  await waitUntil('every committed event on Kafka', () => committed.every((id) => received.includes(id)));
  await waitUntil('the outbox to be emptied', async () => {
    const { rows } = await pool.query<{ n: string }>('select count(*)::text as n from outbox');
    return rows[0]!.n === '0';
  });
  const elapsed = Date.now() - started;

  say('5. graceful stop');
  relay.kill('SIGTERM');
  const [relayCode] = (await once(relay, 'exit')) as [number];
  const { rows } = await pool.query<{ lsn: string }>(
    `select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = 'outbox_relay'`,
  );

  // Slot names are cluster-wide: leave the default name free for the next database on this server.
  await pool.query(`select pg_drop_replication_slot('outbox_relay')`);
  const unexpected = received.filter((id) => !committed.includes(id));
  say('');
  say(
    `${committed.length} events committed, ${received.length} delivered to Kafka ` +
      `(${unexpected.length} unexpected), outbox empty, slot confirmed at ${rows[0]?.lsn}, ` +
      `relay exited ${relayCode}; ${elapsed} ms from relay start to the last event.`,
  );
  if (unexpected.length > 0 || relayCode !== 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  // A client still connected (the consumer) must not keep a failed demo waiting.
  process.exit(1);
});
