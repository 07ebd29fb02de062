// The relay end to end, once per broker: PostgreSQL WAL -> relay CLI -> a real Kafka or RabbitMQ
// broker, with the broker alone in the environment (the default route: Kafka topic
// outbox.<aggregateType>; RabbitMQ durable topic exchange `outbox`, routing key
// <aggregateType>.<eventType>). What only one broker does is in kafka-relay.test.ts and
// rabbitmq-relay.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { kafka, rabbitmq } from '../support/brokers.js';
import type { BrokerFixture, BrokerReader } from '../support/brokers.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { assertNoProcessLeft, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

scenarios(kafka);
scenarios(rabbitmq);

function scenarios<M>(broker: BrokerFixture<M>): void {
  describe(`relay with ${broker.title}`, () => {
    let db: TestDatabase;
    let relay: RelayProcess;
    // A test that fails before stopping its reader must not leave it consuming (and the process alive).
    const readers: BrokerReader<M>[] = [];
    const startReader = async (type: string): Promise<BrokerReader<M>> => {
      const reader = await broker.read(type);
      readers.push(reader);
      return reader;
    };
    // Anything extra would arrive with the messages a test waited for: it waits for the rows to be
    // completed too.
    const rowsCompleted = (): Promise<unknown> =>
      waitFor('rows deleted', async () => (await outboxCount(db.pool)) === 0, {
        timeoutMs: broker.completionTimeoutMs,
      });

    before(async () => {
      db = await createTestDatabase(broker.name);
      relay = startRelayProcess(broker.relayEnv(db));
      await relay.waitForLog('streaming');
    });
    after(async () => {
      for (const reader of readers) await reader.stop();
      await relay.stop('SIGKILL');
      await db.drop();
    });

    test(`publishes each committed event once, ${broker.addressing}, with the contract headers and properties`, async () => {
      const type = uniqueName('order');
      const reader = await startReader(type);
      const events: TestEvent[] = [
        {
          aggregateType: type,
          aggregateId: 'o-1',
          eventType: 'OrderPlaced',
          payload: { total: 12.5, items: ['a'], note: 'café' },
          headers: { traceparent: '00-abc-01' },
        },
        { aggregateType: type, aggregateId: 'o-2', eventType: 'OrderShipped', payload: { total: 3 } },
      ];
      const committedAt = Date.now();
      const ids = await commitEvents(db.pool, events);
      const messages = await reader.waitForCount(2);
      await rowsCompleted();
      await reader.stop();

      assert.deepEqual([...reader.ids()].sort(), [...ids].sort());
      for (const [index, event] of events.entries()) {
        const message = messages.find((m) => broker.delivery(m).id === ids[index])!;
        const { value, headers } = broker.delivery(message);
        assert.deepEqual(JSON.parse(value), event.payload);
        assert.equal(headers['aggregate_type'], type);
        assert.equal(headers['aggregate_id'], event.aggregateId);
        assert.equal(headers['event_type'], event.eventType);
        assert.match(headers['created_at']!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
        for (const [name, header] of Object.entries(event.headers ?? {})) assert.equal(headers[name], header);
        broker.assertContract(message, event, ids[index]!, committedAt);
      }
    });

    test('publishes nothing from a rolled-back transaction', async () => {
      const type = uniqueName('rollback');
      const reader = await startReader(type);
      const [rolledBack] = await commitEvents(
        db.pool,
        [{ aggregateType: type, aggregateId: 'r', eventType: 'Lost', payload: {} }],
        { rollback: true },
      );
      const [marker] = await commitEvents(db.pool, [
        { aggregateType: type, aggregateId: 'm', eventType: 'Marker', payload: {} },
      ]);
      await reader.waitForCount(1);
      await rowsCompleted();
      await reader.stop();
      assert.deepEqual(reader.ids(), [marker]);
      assert.ok(!reader.ids().includes(rolledBack!));
    });

    test('keeps commit order per aggregate across many concurrent transactions', async () => {
      const type = uniqueName('ordered');
      const reader = await startReader(type);
      const aggregates = 12;
      const transactionsPerWriter = 40;
      // Four writers commit concurrently; each owns three aggregates and numbers its events.
      await Promise.all(
        Array.from({ length: 4 }, async (_, writer) => {
          for (let t = 0; t < transactionsPerWriter; t++) {
            const events: TestEvent[] = [];
            for (let k = 0; k < 3; k++) {
              const aggregateId = `agg-${writer * 3 + k}`;
              events.push({ aggregateType: type, aggregateId, eventType: 'Step', payload: { seq: t * 2 } });
              events.push({
                aggregateType: type,
                aggregateId,
                eventType: 'Step',
                payload: { seq: t * 2 + 1 },
              });
            }
            await commitEvents(db.pool, events);
          }
        }),
      );
      const total = aggregates * transactionsPerWriter * 2;
      await reader.waitForCount(total);
      await rowsCompleted();
      await reader.stop();

      assert.equal(new Set(reader.ids()).size, total);
      const byKey = new Map<string, number[]>();
      for (const message of reader.messages) {
        const { key, value } = broker.delivery(message);
        byKey.set(key, [...(byKey.get(key) ?? []), (JSON.parse(value) as { seq: number }).seq]);
      }
      assert.equal(byKey.size, aggregates);
      for (const [key, seqs] of byKey) {
        assert.deepEqual(
          seqs,
          Array.from({ length: transactionsPerWriter * 2 }, (_, i) => i),
          `order of ${key}`,
        );
      }
    });
  });
}
