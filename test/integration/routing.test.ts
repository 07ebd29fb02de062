// Routing on the real brokers: a routes file sends a mixed stream to the right destinations, and
// the events no destination can take are parked in the dead-letter table while the rest flow.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTopics, TopicReader } from '../support/kafka.js';
import type { ReceivedMessage } from '../support/kafka.js';
import { probeUrl, sampleValue, scrape } from '../kit/metrics.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { QueueReader } from '../support/rabbitmq.js';
import type { AmqpMessage } from '../support/rabbitmq.js';
import { createTestDatabase, RABBITMQ_URL, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

interface DeadLetterRow {
  id: string;
  aggregate_type: string;
  error: string;
  destination: string | null;
}

function writeRoutesFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'routes-')), 'routes.yaml');
  writeFileSync(path, text);
  return path;
}

/** Each (topic, key)'s messages, in arrival order, as the payload's `seq`: order holds per destination. */
function sequencesByKey(messages: readonly ReceivedMessage[]): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const message of messages) {
    const seq = (JSON.parse(message.value) as { seq: number }).seq;
    const key = `${message.topic}/${message.key}`;
    byKey.set(key, [...(byKey.get(key) ?? []), seq]);
  }
  return byKey;
}

function increasing(values: readonly number[]): boolean {
  return values.every((value, index) => index === 0 || value > values[index - 1]!);
}

/** The same, for messages read from a RabbitMQ queue. */
function amqpSequencesByKey(messages: readonly AmqpMessage[]): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const message of messages) {
    const seq = (JSON.parse(message.body) as { seq: number }).seq;
    const key = `${message.exchange}/${message.headers['aggregate_id']}`;
    byKey.set(key, [...(byKey.get(key) ?? []), seq]);
  }
  return byKey;
}

async function parkedRows(db: TestDatabase): Promise<DeadLetterRow[]> {
  const { rows } = await db.pool.query<DeadLetterRow>(
    `select id::text, aggregate_type, error, destination from outbox_dead_letter`,
  );
  return rows;
}

describe('routing on Kafka', () => {
  let db: TestDatabase;
  let relay: RelayProcess | undefined;
  let reader: TopicReader | undefined;

  before(async () => {
    db = await createTestDatabase('routing');
  });
  after(async () => {
    await reader?.stop();
    await relay?.stop('SIGKILL');
    await db.drop();
  });

  test('a mixed stream lands in its routed topics; unrouted, oversized and unknown-topic events are parked', async () => {
    const run = uniqueName('r');
    const orders = `orders_${run}`;
    const [created, renamed] = [`users_${run}.Created`, `users_${run}.Renamed`];
    await createTopics([orders, created, renamed]);
    const routes = writeRoutesFile(`
routes:
  - aggregateType: order_${run}
    destinations:
      - kafka: { topic: ${orders} }
  - aggregateType: "user_${run}.*"
    destinations:
      - kafka: { topic: "users_${run}.\${eventType}" }
  - aggregateType: lost_${run}
    destinations:
      - kafka: { topic: "nosuch_${run}" }
default: deadLetter
`);
    reader = await TopicReader.start([orders, created, renamed]);
    relay = startRelayProcess(
      relayEnv(db, {
        OUTBOX_ROUTES: routes,
        // The topics this test routes to exist; any other must be refused, not created.
        KAFKA_AUTO_CREATE_TOPICS: 'false',
        KAFKA_MAX_MESSAGE_BYTES: '4000',
        OUTBOX_MAX_ATTEMPTS: '2',
      }),
    );
    await relay.waitForLog('streaming');

    const routed: string[] = [];
    const parked = new Map<string, string>();
    for (let tx = 0; tx < 30; tx++) {
      const events: TestEvent[] = [];
      for (let i = 0; i < 10; i++) {
        const seq = tx * 10 + i;
        events.push({
          aggregateType: `order_${run}`,
          aggregateId: `o${seq % 4}`,
          eventType: 'Placed',
          payload: { seq },
        });
        events.push({
          aggregateType: `user_${run}.profile`,
          aggregateId: `u${seq % 3}`,
          eventType: seq % 2 ? 'Renamed' : 'Created',
          payload: { seq },
        });
      }
      const kinds = events.map(() => 'routed');
      if (tx % 10 === 5) {
        events.push({
          aggregateType: `invoice_${run}`,
          aggregateId: 'i1',
          eventType: 'Sent',
          payload: { seq: tx },
        });
        events.push({
          aggregateType: `order_${run}`,
          aggregateId: 'o1',
          eventType: 'Placed',
          payload: { seq: -1, pad: 'x'.repeat(5000) },
        });
        events.push({
          aggregateType: `lost_${run}`,
          aggregateId: 'l1',
          eventType: 'Gone',
          payload: { seq: tx },
        });
        kinds.push('no route', 'too_large', 'unknown topic');
      }
      const ids = await commitEvents(db.pool, events);
      ids.forEach((id, index) =>
        kinds[index] === 'routed' ? routed.push(id) : parked.set(id, kinds[index]!),
      );
    }

    await waitFor('every event completed', async () => (await outboxCount(db.pool)) === 0, {
      timeoutMs: 120_000,
    });
    await reader.waitForCount(routed.length);

    // Right topics, keys and per-key order; nothing parked reached a topic, nothing routed is missing.
    assert.deepEqual(new Set(reader.ids()), new Set(routed));
    for (const message of reader.messages) {
      const headers = message.headers;
      assert.equal(message.key, headers['aggregate_id']);
      if (message.topic === orders) assert.equal(headers['aggregate_type'], `order_${run}`);
      else assert.equal(message.topic, `users_${run}.${headers['event_type']}`);
    }
    for (const [key, sequence] of sequencesByKey(reader.messages)) {
      assert.ok(increasing(sequence), `key ${key} in commit order: ${sequence.join(',')}`);
    }

    const rows = await parkedRows(db);
    assert.equal(rows.length, parked.size, 'each parked event has one dead-letter row');
    for (const row of rows) {
      const kind = parked.get(row.id);
      if (kind === 'no route') {
        assert.match(row.error, /no route for aggregate type/);
        assert.equal(row.destination, null);
      } else if (kind === 'too_large') {
        assert.match(row.error, /exceeds the 4000-byte limit/);
        assert.equal(row.destination, `kafka:${orders}`);
      } else {
        assert.equal(kind, 'unknown topic', `row ${row.id} was not expected to be parked`);
        assert.match(row.error, /UNKNOWN_TOPIC_OR_PARTITION/);
        assert.equal(row.destination, `kafka:nosuch_${run}`);
      }
    }

    const { samples } = await scrape(await probeUrl(relay));
    const parkedFor = (reason: string): number | undefined =>
      sampleValue(samples, 'outbox_relay_events_dead_lettered_total', { reason });
    assert.equal(parkedFor('unroutable'), 3);
    assert.equal(parkedFor('too_large'), 3);
    assert.equal(parkedFor('unknown_topic_or_partition'), 3);
    assert.equal(
      relay.output.filter((line) => line.includes('dead-lettered')).length,
      9,
      'one log line each',
    );
    assert.equal(await relay.stop('SIGTERM'), 0);
    relay = undefined;
  });
});

describe('routing on Kafka and RabbitMQ together', () => {
  let db: TestDatabase;
  let relay: RelayProcess | undefined;
  const readers: { stop(): Promise<void> }[] = [];

  before(async () => {
    db = await createTestDatabase('routing2');
  });
  after(async () => {
    for (const reader of readers) await reader.stop();
    await relay?.stop('SIGKILL');
    await db.drop();
  });

  test('mixed stream: topics, exchanges, fan-out to both, order per key on each; refusals parked', async () => {
    const run = uniqueName('m');
    const [orders, userTopic, users, audit] = [
      `orders_${run}`,
      `outbox.user_${run}`,
      `users_${run}`,
      `audit_${run}`,
    ];
    await createTopics([orders, userTopic]);
    const routes = writeRoutesFile(`
routes:
  - aggregateType: order_${run}
    destinations:
      - kafka: { topic: ${orders} }
  - aggregateType: user_${run}
    destinations:
      - rabbitmq: { exchange: ${users}, routingKey: "user.\${eventType}", assert: true, type: topic }
      - kafka: { topic: "outbox.\${aggregateType}" }
  - aggregateType: "audit_${run}.*"
    destinations:
      - rabbitmq: { exchange: ${audit}, routingKey: "\${aggregateType}", assert: true, type: direct }
  - aggregateType: nobody_${run}
    destinations:
      - rabbitmq: { exchange: ${users}, routingKey: "nobody.\${eventType}" }
  - aggregateType: ghost_${run}
    destinations:
      - rabbitmq: { exchange: ghost_${run}, routingKey: x }
  - aggregateType: blob_${run}
    destinations:
      - rabbitmq: { exchange: ${users}, routingKey: user.Blob }
`);
    const kafkaReader = await TopicReader.start([orders, userTopic]);
    readers.push(kafkaReader);
    const userQueue = await QueueReader.start([{ exchange: users, routingKey: 'user.*', declare: 'topic' }]);
    readers.push(userQueue);
    const auditQueue = await QueueReader.start([
      { exchange: audit, routingKey: `audit_${run}.login`, declare: 'direct' },
    ]);
    readers.push(auditQueue);
    relay = startRelayProcess(
      relayEnv(db, {
        RABBITMQ_URL,
        OUTBOX_ROUTES: routes,
        RABBITMQ_MAX_MESSAGE_BYTES: '4000',
        OUTBOX_MAX_ATTEMPTS: '1',
      }),
    );
    await relay.waitForLog('streaming');

    const expected = { orders: [] as string[], users: [] as string[], audit: [] as string[] };
    const parked = new Map<string, string>();
    for (let tx = 0; tx < 40; tx++) {
      const events: TestEvent[] = [];
      const kinds: string[] = [];
      for (let i = 0; i < 6; i++) {
        const seq = tx * 6 + i;
        events.push({
          aggregateType: `order_${run}`,
          aggregateId: `o${seq % 5}`,
          eventType: 'Placed',
          payload: { seq },
        });
        events.push({
          aggregateType: `user_${run}`,
          aggregateId: `u${seq % 3}`,
          eventType: seq % 2 ? 'Renamed' : 'Created',
          payload: { seq },
        });
        events.push({
          aggregateType: `audit_${run}.login`,
          aggregateId: `a${seq % 2}`,
          eventType: 'LoggedIn',
          payload: { seq },
        });
        kinds.push('orders', 'users', 'audit');
      }
      if (tx % 10 === 3) {
        events.push({
          aggregateType: `nobody_${run}`,
          aggregateId: 'n',
          eventType: 'Lost',
          payload: { seq: tx },
        });
        events.push({
          aggregateType: `ghost_${run}`,
          aggregateId: 'g',
          eventType: 'Boo',
          payload: { seq: tx },
        });
        events.push({
          aggregateType: `blob_${run}`,
          aggregateId: 'b',
          eventType: 'Blob',
          payload: { seq: tx, pad: 'x'.repeat(5000) },
        });
        kinds.push('unroutable', 'exchange_not_found', 'too_large');
      }
      const ids = await commitEvents(db.pool, events);
      ids.forEach((id, index) => {
        const kind = kinds[index]!;
        if (kind === 'orders' || kind === 'users' || kind === 'audit') expected[kind].push(id);
        else parked.set(id, kind);
      });
    }

    await waitFor('every event completed', async () => (await outboxCount(db.pool)) === 0, {
      timeoutMs: 120_000,
    });
    await kafkaReader.waitForCount(expected.orders.length + expected.users.length);
    await userQueue.waitForCount(expected.users.length);
    await auditQueue.waitForCount(expected.audit.length);

    // Kafka: orders to their topic; users fanned out to outbox.<type> as well.
    const onTopic = (topic: string): string[] =>
      kafkaReader.messages
        .filter((message) => message.topic === topic)
        .map((message) => message.headers['id']!);
    assert.deepEqual(new Set(onTopic(orders)), new Set(expected.orders));
    assert.deepEqual(new Set(onTopic(userTopic)), new Set(expected.users));
    for (const [key, sequence] of sequencesByKey(kafkaReader.messages)) {
      assert.ok(increasing(sequence), `kafka ${key} in commit order: ${sequence.join(',')}`);
    }
    // RabbitMQ: the same user events on the topic exchange, audit events on the direct one.
    assert.deepEqual(new Set(userQueue.ids()), new Set(expected.users));
    assert.deepEqual(new Set(auditQueue.ids()), new Set(expected.audit));
    for (const message of userQueue.messages) {
      assert.equal(message.exchange, users);
      assert.equal(message.routingKey, `user.${message.type}`);
      assert.equal(message.headers['aggregate_type'], `user_${run}`);
    }
    for (const message of auditQueue.messages) assert.equal(message.routingKey, `audit_${run}.login`);
    for (const [key, sequence] of amqpSequencesByKey([...userQueue.messages, ...auditQueue.messages])) {
      assert.ok(increasing(sequence), `rabbitmq ${key} in commit order: ${sequence.join(',')}`);
    }

    const rows = await parkedRows(db);
    assert.equal(rows.length, parked.size, 'each refused event has one dead-letter row');
    for (const row of rows) {
      const kind = parked.get(row.id);
      if (kind === 'unroutable') {
        assert.match(row.error, /unroutable: no queue bound/);
        assert.equal(row.destination, `rabbitmq:${users}/nobody.Lost`);
      } else if (kind === 'exchange_not_found') {
        assert.match(row.error, /exchange "ghost_.*" does not exist/);
        assert.equal(row.destination, `rabbitmq:ghost_${run}/x`);
      } else {
        assert.equal(kind, 'too_large', `row ${row.id} was not expected to be parked`);
        assert.equal(row.destination, `rabbitmq:${users}/user.Blob`);
      }
    }

    const { samples } = await scrape(await probeUrl(relay));
    const published = (sink: string, destination: string): number | undefined =>
      sampleValue(samples, 'outbox_relay_events_published_total', { sink, destination });
    assert.equal(published('kafka', orders), expected.orders.length);
    assert.equal(published('kafka', userTopic), expected.users.length);
    assert.equal(published('rabbitmq', users), expected.users.length);
    assert.equal(published('rabbitmq', audit), expected.audit.length);
    for (const reason of ['unroutable', 'exchange_not_found', 'too_large']) {
      assert.equal(sampleValue(samples, 'outbox_relay_events_dead_lettered_total', { reason }), 4, reason);
    }
    assert.equal(await relay.stop('SIGTERM'), 0);
    relay = undefined;
  });
});
