// The examples run as a user runs them: the orders app writes orders and their events, the relay
// publishes them, and each consumer handles every event once, even when a message arrives twice.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { loadRoutesFile } from '../../src/routing/routes-file.js';
import { createTopics, TopicReader } from '../support/kafka.js';
import { outboxCount } from '../support/outbox.js';
import { outboxBinding, QueueReader, withChannel } from '../support/rabbitmq.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess, startScript } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import {
  createTestDatabase,
  KAFKA_BROKER,
  RABBITMQ_URL,
  ROOT,
  SCHEMA_REGISTRY_URL,
  uniqueName,
} from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

interface AppEvent {
  readonly eventType: string;
  readonly id: string;
}

/** Runs the orders app to completion; returns the events it reports, in order. */
async function runOrdersApp(db: TestDatabase): Promise<AppEvent[]> {
  const app = startScript('examples/orders-app/main.ts', [], { DATABASE_URL: db.url });
  assert.equal(await app.exited, 0, app.output.join('\n'));
  const events = app.output.flatMap((line) => {
    const match = new RegExp(`event (\\w+) (${UUID})$`).exec(line);
    return match ? [{ eventType: match[1]!, id: match[2]! }] : [];
  });
  assert.deepEqual(
    events.map((event) => event.eventType),
    ['OrderPlaced', 'OrderPlaced', 'OrderPlaced', 'OrderCancelled'],
  );
  return events;
}

/** How often the consumer printed `handled … <id>` for each id. */
function handledCounts(consumer: RelayProcess): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of consumer.output) {
    const id = new RegExp(`^handled \\w+ (${UUID})`).exec(line)?.[1];
    if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('examples', () => {
  let db: TestDatabase;
  let dir: string;
  const processes: RelayProcess[] = [];

  before(async () => {
    db = await createTestDatabase('examples');
    dir = mkdtempSync(join(tmpdir(), 'outbox-examples-'));
  });
  after(async () => {
    for (const child of processes) await child.stop('SIGKILL');
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(script: string, env: Record<string, string>): RelayProcess {
    const child = script === 'relay' ? startRelayProcess(env) : startScript(script, [], env);
    processes.push(child);
    return child;
  }

  test('the routes file of `npm run example:relay` is valid', () => {
    const spec = loadRoutesFile(join(ROOT, 'examples/routes.yaml'), { kafka: true, rabbitmq: true });
    assert.deepEqual(spec.routes[0]?.destinations, [
      { kafka: { topic: 'example.orders' } },
      {
        rabbitmq: {
          exchange: 'outbox',
          routingKey: '${aggregateType}.${eventType}',
          assert: true,
          type: 'topic',
        },
      },
    ]);
  });

  test('orders app -> relay -> Kafka consumer: each event handled once, a redelivered one skipped', async () => {
    // The routes file sends the app's `order` events to a topic of this test's own.
    const topic = uniqueName('orders');
    const routes = join(dir, 'kafka-routes.yaml');
    writeFileSync(
      routes,
      `routes:\n  - aggregateType: order\n    destinations:\n      - kafka: { topic: ${topic} }\n`,
    );
    await createTopics([topic], 1);
    const reader = await TopicReader.start([topic]);
    const consumer = start('examples/consumers/kafka-consumer.ts', {
      DATABASE_URL: db.url,
      KAFKA_BROKERS: KAFKA_BROKER,
      EXAMPLE_TOPIC: topic,
      EXAMPLE_GROUP_ID: uniqueName('shipping'),
    });
    const relay = start(
      'relay',
      relayEnv(db, {
        OUTBOX_ROUTES: routes,
      }),
    );
    try {
      await consumer.waitForLine(/^consuming /);
      await relay.waitForLog('streaming');

      const events = await runOrdersApp(db);
      await waitFor('every event handled', () =>
        events.every((event) => handledCounts(consumer).has(event.id)),
      );

      // Deliver the first event again, exactly as the relay sent it.
      const [original] = await reader.waitForCount(events.length);
      assert.equal(original!.headers['id'], events[0]!.id);
      const kafka = new Kafka({ brokers: [KAFKA_BROKER], logLevel: logLevel.NOTHING });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic,
        messages: [{ key: original!.key, value: original!.value, headers: original!.headers }],
      });
      await producer.disconnect();
      await consumer.waitForLine(new RegExp(`^skipped duplicate ${events[0]!.id}$`));

      assert.deepEqual([...handledCounts(consumer)].sort(), events.map((event) => [event.id, 1]).sort());
      const { rows: shipments } = await db.pool.query<{ order_id: number; status: string }>(
        'select order_id, status from shipments order by order_id',
      );
      assert.deepEqual(shipments, [
        { order_id: 1, status: 'pending' },
        { order_id: 2, status: 'pending' },
        { order_id: 3, status: 'cancelled' },
      ]);
      await waitFor('the outbox emptied', async () => (await outboxCount(db.pool)) === 0);
      assert.equal(await consumer.stop('SIGTERM'), 0);
    } finally {
      await reader.stop();
      await relay.stop('SIGTERM');
    }
  });

  test('orders app -> relay -> RabbitMQ consumer: each event handled once, a redelivered one skipped', async () => {
    await db.pool.query('truncate outbox, orders, processed_events restart identity');
    // The relay's default route on RabbitMQ: topic exchange `outbox`, routing key order.<eventType>.
    const queue = uniqueName('notifications');
    const consumer = start('examples/consumers/rabbitmq-consumer.ts', {
      DATABASE_URL: db.url,
      RABBITMQ_URL,
      EXAMPLE_QUEUE: queue,
    });
    // A second queue on the same binding keeps what the relay sent, to deliver one message again.
    const sent = await QueueReader.start([outboxBinding('order')]);
    const relay = start('relay', relayEnv(db, {}, 'rabbitmq'));
    try {
      await consumer.waitForLine(/^consuming /);
      await relay.waitForLog('streaming');

      const events = await runOrdersApp(db);
      await waitFor('every event handled', () =>
        events.every((event) => handledCounts(consumer).has(event.id)),
      );

      const [original] = await sent.waitForCount(events.length);
      assert.equal(original!.messageId, events[0]!.id);
      const connection = await amqp.connect(RABBITMQ_URL);
      try {
        const confirms = await connection.createConfirmChannel();
        confirms.publish(original!.exchange, original!.routingKey, Buffer.from(original!.body), {
          persistent: true,
          messageId: original!.messageId,
          type: original!.type,
          contentType: original!.contentType,
          timestamp: original!.timestamp,
          headers: original!.headers,
        });
        await confirms.waitForConfirms();
      } finally {
        await connection.close();
      }
      await consumer.waitForLine(new RegExp(`^skipped duplicate ${events[0]!.id}$`));

      assert.deepEqual([...handledCounts(consumer)].sort(), events.map((event) => [event.id, 1]).sort());
      const { rows: notes } = await db.pool.query<{ order_id: number; text: string }>(
        'select order_id, text from notifications order by id',
      );
      assert.deepEqual(notes, [
        { order_id: 1, text: 'thank you for your order, ada' },
        { order_id: 2, text: 'thank you for your order, grace' },
        { order_id: 3, text: 'thank you for your order, linus' },
        { order_id: 3, text: 'your order was cancelled: customer changed their mind' },
      ]);
      await waitFor('the outbox emptied', async () => (await outboxCount(db.pool)) === 0);
      assert.equal(await consumer.stop('SIGTERM'), 0);
    } finally {
      await relay.stop('SIGTERM');
      await sent.stop();
      await withChannel((channel) => channel.deleteQueue(queue)).catch(() => undefined);
    }
  });

  for (const format of ['avro', 'protobuf', 'json-schema']) {
    test(`orders app -> relay (${format}) -> ${format} consumer: each event decoded from examples/schemas`, async () => {
      const topic = uniqueName(format.replace('-', ''));
      const routes = join(dir, `${format}-routes.yaml`);
      writeFileSync(
        routes,
        `routes:\n  - aggregateType: order\n    destinations:\n      - kafka: { topic: ${topic} }\n`,
      );
      await createTopics([topic], 1);
      const consumer = start(`examples/consumers/${format}-consumer.ts`, {
        KAFKA_BROKERS: KAFKA_BROKER,
        EXAMPLE_TOPIC: topic,
        EXAMPLE_GROUP_ID: uniqueName(format),
      });
      // Rows are marked, not deleted: their payloads are what the consumer must print.
      const relay = start(
        'relay',
        relayEnv(db, {
          OUTBOX_ROUTES: routes,
          OUTBOX_FORMAT: format,
          OUTBOX_SCHEMAS_DIR: join(ROOT, 'examples/schemas'),
          OUTBOX_COMPLETION: 'mark',
        }),
      );
      try {
        await consumer.waitForLine(/^consuming /);
        await relay.waitForLog('streaming');
        const events = await runOrdersApp(db);
        const printed = (id: string): string | undefined =>
          consumer.output.find((line) =>
            line.startsWith(`${events.find((e) => e.id === id)!.eventType} ${id} v1: `),
          );
        await waitFor('every event printed', () => events.every((event) => printed(event.id)));
        const { rows } = await db.pool.query<{ id: string; payload: unknown }>(
          'select id, payload from outbox where id = any($1)',
          [events.map((event) => event.id)],
        );
        assert.equal(rows.length, events.length);
        for (const { id, payload } of rows) {
          const line = printed(id)!;
          assert.deepEqual(JSON.parse(line.slice(line.indexOf(': ') + 2)), payload, line);
        }
        assert.equal(await consumer.stop('SIGTERM'), 0);
      } finally {
        await relay.stop('SIGTERM');
      }
    });
  }

  for (const format of ['avro', 'json-schema']) {
    test(`orders app -> relay (${format}, registry mode) -> registry consumer: Confluent's deserializer reads each event`, async () => {
      const topic = uniqueName(`registry_${format.replace('-', '')}`);
      const routes = join(dir, `registry-${format}-routes.yaml`);
      writeFileSync(
        routes,
        `routes:\n  - aggregateType: order\n    destinations:\n      - kafka: { topic: ${topic} }\n`,
      );
      await createTopics([topic], 1);
      const consumer = start('examples/consumers/registry-consumer.ts', {
        KAFKA_BROKERS: KAFKA_BROKER,
        SCHEMA_REGISTRY_URL,
        EXAMPLE_TOPIC: topic,
        EXAMPLE_GROUP_ID: uniqueName('registry'),
      });
      const relay = start(
        'relay',
        relayEnv(db, {
          OUTBOX_ROUTES: routes,
          OUTBOX_FORMAT: format,
          OUTBOX_SCHEMAS_DIR: join(ROOT, 'examples/schemas'),
          OUTBOX_COMPLETION: 'mark',
          SCHEMA_REGISTRY_URL,
        }),
      );
      try {
        await consumer.waitForLine(/^consuming /);
        await relay.waitForLog('streaming');
        const events = await runOrdersApp(db);
        const printed = (id: string): string | undefined =>
          consumer.output.find((line) =>
            new RegExp(`^${events.find((e) => e.id === id)!.eventType} ${id} schema id \\d+: `).test(line),
          );
        await waitFor('every event printed', () => events.every((event) => printed(event.id)));
        const { rows } = await db.pool.query<{ id: string; payload: unknown }>(
          'select id, payload from outbox where id = any($1)',
          [events.map((event) => event.id)],
        );
        assert.equal(rows.length, events.length);
        for (const { id, payload } of rows) {
          const line = printed(id)!;
          assert.deepEqual(JSON.parse(line.slice(line.indexOf(': ') + 2)), payload, line);
        }
        assert.equal(await consumer.stop('SIGTERM'), 0);
      } finally {
        await relay.stop('SIGTERM');
      }
    });
  }
});
