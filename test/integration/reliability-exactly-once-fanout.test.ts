// Exactly-once (KAFKA_EXACTLY_ONCE=true) beside other destinations and refusals: on a fan-out route
// (Kafka and RabbitMQ) the relay is SIGKILLed under load: the Kafka side, read_committed, holds every
// event once, the RabbitMQ side every event at least once (its consumers deduplicate on messageId).
// A message the broker refuses inside a Kafka transaction is found and dead-lettered, the others of
// its transaction still arrive once.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { createTopics, TopicReader } from '../support/kafka.js';
import { EventCounter, OutboxLoad } from '../support/load.js';
import { deliveryContext, waitForOutboxEmpty } from '../support/probes.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import { countQueue } from '../support/rabbitmq.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, KAFKA_BROKER, RABBITMQ_URL, uniqueName } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const KILLS = 3;

test('exactly-once fan-out: Kafka holds each event once, RabbitMQ at least once, after SIGKILLs', async (t) => {
  const db = await createTestDatabase('eos_fanout');
  const type = uniqueName('eos_fanout');
  const topic = `outbox.${type}`;
  await createTopics([topic]);
  const kafka = await EventCounter.start(topic);
  const rabbit = await countQueue(type);
  const routes = join(mkdtempSync(join(tmpdir(), 'routes-')), 'routes.yaml');
  writeFileSync(
    routes,
    `routes:
  - aggregateType: ${type}
    destinations:
      - kafka: { topic: "outbox.\${aggregateType}" }
      - rabbitmq: { exchange: outbox, routingKey: "\${aggregateType}.\${eventType}" }
`,
  );
  const env = relayEnv(db, {
    KAFKA_EXACTLY_ONCE: 'true',
    OUTBOX_MAX_IN_FLIGHT: '1000',
    OUTBOX_ROUTES: routes,
    RABBITMQ_URL,
  });
  let relay: RelayProcess = startRelayProcess(env);
  let load: OutboxLoad | undefined;
  try {
    await relay.waitForLog('streaming');
    load = await OutboxLoad.start(db.url, { aggregateType: type, eventsPerSecond: 1_000 });
    for (let kill = 1; kill <= KILLS; kill++) {
      const received = kafka.received;
      await waitFor('the relay to deliver', () => kafka.received > received + 500, { timeoutMs: 60_000 });
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 1_000));
      relay.child.kill('SIGKILL');
      await relay.exited;
      relay = startRelayProcess(env);
      await relay.waitForLog('streaming');
    }
    await load.stop();
    await kafka.waitForAll(load, undefined, () => deliveryContext(db, relay));
    await rabbit.counter.waitForAll(load, undefined, () => deliveryContext(db, relay));
    await waitForOutboxEmpty(db, relay);
    const rabbitDuplicates = rabbit.counter.duplicates - rabbit.readerDuplicates();
    t.diagnostic(
      `${load.committed} events, ${KILLS} kills: Kafka ${kafka.duplicates} duplicates, ` +
        `RabbitMQ ${rabbitDuplicates} duplicates (at-least-once)`,
    );
    assert.deepEqual(kafka.missing(load), [], 'Kafka: every event');
    assert.deepEqual(kafka.orderViolations.slice(0, 10), [], 'Kafka: per-key order');
    assert.equal(kafka.duplicates, 0, 'Kafka: no event twice');
    assert.deepEqual(rabbit.counter.missing(load), [], 'RabbitMQ: every event');
    assert.deepEqual(rabbit.counter.orderViolations.slice(0, 10), [], 'RabbitMQ: per-key order');
    assert.equal(await relay.stop('SIGTERM'), 0);
  } finally {
    await load?.stop();
    await relay.stop('SIGKILL');
    await kafka.stop();
    await rabbit.counter.stop();
    await db.drop();
  }
});

test('exactly-once: a message the broker refuses is dead-lettered, the rest of its transaction arrives once', async () => {
  const db = await createTestDatabase('eos_refused');
  const type = uniqueName('eos_refused');
  const topic = `outbox.${type}`;
  const admin = new Kafka({ brokers: [KAFKA_BROKER], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '2000' }] }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
  const reader = await TopicReader.start([topic]);
  const relay = startRelayProcess(relayEnv(db, { KAFKA_EXACTLY_ONCE: 'true', OUTBOX_MAX_ATTEMPTS: '2' }));
  try {
    await relay.waitForLog('streaming');
    const event = (seq: number, padding = 0) => ({
      aggregateType: type,
      aggregateId: 'k',
      eventType: 'E',
      payload: { seq, pad: 'x'.repeat(padding) },
    });
    const ids = await commitEvents(db.pool, [event(1), event(2, 5_000), event(3)]);
    await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0, { timeoutMs: 60_000 });
    await reader.waitForCount(2);
    assert.deepEqual(reader.ids(), [ids[0], ids[2]]);
    const { rows } = await db.pool.query<{ id: string; error: string }>(
      'select id::text, error from outbox_dead_letter',
    );
    assert.deepEqual(
      rows.map(({ id }) => id),
      [ids[1]],
    );
    assert.match(rows[0]!.error, /MESSAGE_TOO_LARGE/);
    assert.equal(await relay.stop('SIGTERM'), 0);
    assert.deepEqual(reader.ids(), [ids[0], ids[2]], 'nothing more after the stop');
  } finally {
    await relay.stop('SIGKILL');
    await reader.stop();
    await db.drop();
  }
});
