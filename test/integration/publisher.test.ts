// createPublisher (the public API for events found without the WAL), once per broker: the relay's
// routes, sinks and message contract, to a real Kafka or RabbitMQ broker. The publisher never
// connects to PostgreSQL; loadConfig only requires DATABASE_URL to be set.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { createPublisher, loadConfig, UndeliverableError } from '../../src/index.js';
import type { OutboxEvent, OutboxPublisher } from '../../src/index.js';
import { kafka, rabbitmq } from '../support/brokers.js';
import type { BrokerFixture, BrokerReader } from '../support/brokers.js';
import { BROKER_ENV } from '../kit/relay.js';
import { ensureServices, uniqueName } from '../kit/services.js';

const UNUSED_DATABASE = { DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused', LOG_LEVEL: 'warn' };

function outboxEvent(aggregateType: string, aggregateId: string, seq: number): OutboxEvent {
  return {
    id: randomUUID(),
    aggregateType,
    aggregateId,
    eventType: 'Step',
    payload: `{"seq": ${seq}}`,
    headers: { traceparent: `00-${seq}-01` },
    createdAt: new Date().toISOString(),
  };
}

scenarios(kafka);
scenarios(rabbitmq);

function scenarios<M>(broker: BrokerFixture<M>): void {
  describe(`createPublisher with ${broker.title}`, () => {
    let publisher: OutboxPublisher;
    let reader: BrokerReader<M> | undefined;

    before(async () => {
      await ensureServices();
      publisher = await createPublisher(loadConfig({ ...UNUSED_DATABASE, ...BROKER_ENV[broker.name] }));
    });
    after(async () => {
      await reader?.stop();
      await publisher.close();
    });

    test(`publishes events through the default route, ${broker.addressing}, in order per aggregate, with the contract`, async () => {
      const type = uniqueName('published');
      reader = await broker.read(type);
      const events = Array.from({ length: 20 }, (_, seq) => outboxEvent(type, `a-${seq % 2}`, seq));
      const publishedAt = Date.now();
      // Not awaited one by one: the order of the calls is what keeps each aggregate's order.
      await Promise.all(events.map((event) => publisher.publish(event)));
      const messages = await reader.waitForCount(events.length);
      await reader.stop();

      assert.deepEqual([...reader.ids()].sort(), events.map((event) => event.id).sort());
      for (const aggregateId of ['a-0', 'a-1']) {
        const received = messages
          .map((message) => broker.delivery(message))
          .filter((m) => m.key === aggregateId);
        const sent = events.filter((event) => event.aggregateId === aggregateId);
        assert.deepEqual(
          received.map((delivery) => delivery.id),
          sent.map((event) => event.id),
        );
      }
      for (const message of messages) {
        const { id, value, headers } = broker.delivery(message);
        const event = events.find((candidate) => candidate.id === id)!;
        assert.equal(value, event.payload, 'the payload text, as given');
        assert.equal(headers['created_at'], event.createdAt);
        assert.equal(headers['traceparent'], event.headers['traceparent']);
        broker.assertContract(message, { ...event, payload: JSON.parse(event.payload) }, id, publishedAt);
      }
    });
  });
}

describe('createPublisher without a route for an event', () => {
  test('rejects it with UndeliverableError, reason unroutable', async () => {
    const routes = `${mkdtempSync(`${tmpdir()}/outbox-publisher-`)}/routes.yaml`;
    writeFileSync(routes, 'routes: []\ndefault: deadLetter\n');
    const publisher = await createPublisher(
      loadConfig({ ...UNUSED_DATABASE, ...BROKER_ENV.kafka, OUTBOX_ROUTES: routes }),
    );
    try {
      await assert.rejects(publisher.publish(outboxEvent('nowhere', 'n-1', 0)), (error: unknown) => {
        assert.ok(error instanceof UndeliverableError);
        assert.equal(error.reason, 'unroutable');
        return true;
      });
    } finally {
      await publisher.close();
    }
  });
});
