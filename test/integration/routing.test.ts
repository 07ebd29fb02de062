// Routing on the real brokers: a routes file sends a mixed stream to the right destinations, and
// the events no destination can take are parked in the dead-letter table while the rest flow.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTopics, TopicReader } from '../support/kafka.js';
import type { ReceivedMessage } from '../support/kafka.js';
import { probeUrl, sampleValue, scrape } from '../support/metrics.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { startRelayProcess } from '../support/relay.js';
import type { RelayProcess } from '../support/relay.js';
import { createTestDatabase, KAFKA_BROKER, uniqueName } from '../support/services.js';
import type { TestDatabase } from '../support/services.js';
import { waitFor } from '../support/wait.js';

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
    relay = startRelayProcess({
      DATABASE_URL: db.url,
      OUTBOX_SLOT: db.slot,
      KAFKA_BROKERS: KAFKA_BROKER,
      OUTBOX_ROUTES: routes,
      // The topics this test routes to exist; any other must be refused, not created.
      KAFKA_AUTO_CREATE_TOPICS: 'false',
      KAFKA_MAX_MESSAGE_BYTES: '4000',
      OUTBOX_MAX_ATTEMPTS: '2',
    });
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

    const { rows } = await db.pool.query<DeadLetterRow>(
      `select id::text, aggregate_type, error, destination from outbox_dead_letter`,
    );
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
