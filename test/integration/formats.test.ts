// Message formats per route, end to end on each broker: one relay, one routes file with a native, a
// cloudevents (binary), a cloudevents-structured and a debezium route. What a consumer receives is
// read with the official CloudEvents SDK (test/support/brokers.ts, cloudEvent()), every attribute
// checked; the debezium route's body is the Outbox Event Router's value (Kafka Connect's JSON
// envelope; test/compat compares it with real Debezium byte for byte on Kafka); the native route's
// messages keep the contract in the same run; the by-format counter counts each.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sinkNamed } from '../../src/sinks/registry.js';
import { kafka, rabbitmq } from '../support/brokers.js';
import type { BrokerFixture, BrokerReader } from '../support/brokers.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { probeUrl, sampleValue, scrape } from '../kit/metrics.js';
import { assertNoProcessLeft, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

scenarios(kafka);
scenarios(rabbitmq);

const RFC_3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function scenarios<M>(broker: BrokerFixture<M>): void {
  describe(`message formats per route with ${broker.title}`, () => {
    const types = {
      native: uniqueName('native'),
      binary: uniqueName('cebinary'),
      structured: uniqueName('cestructured'),
      debezium: uniqueName('debezium'),
    };
    let db: TestDatabase;
    let relay: RelayProcess;
    let metrics: string;
    let dir: string;
    const readers: BrokerReader<M>[] = [];

    before(async () => {
      db = await createTestDatabase(broker.name);
      dir = mkdtempSync(join(tmpdir(), 'outbox-formats-'));
      // Each route sends where the default route would, so the fixture's readers find the messages.
      const destinations = [{ [broker.name]: sinkNamed(broker.name).defaultDestination as unknown }];
      const routes = join(dir, 'routes.json');
      writeFileSync(
        routes,
        JSON.stringify({
          routes: [
            { aggregateType: types.native, destinations },
            { aggregateType: types.binary, destinations, format: 'cloudevents' },
            {
              aggregateType: types.structured,
              destinations,
              format: { 'cloudevents-structured': { source: '/shop/orders' } },
            },
            { aggregateType: types.debezium, destinations, format: 'debezium' },
          ],
        }),
      );
      relay = startRelayProcess(broker.relayEnv(db, { OUTBOX_ROUTES: routes }));
      metrics = await probeUrl(relay);
      await relay.waitForLog('streaming');
    });
    after(async () => {
      for (const reader of readers) await reader.stop();
      await relay.stop('SIGKILL');
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('each route writes its format: CloudEvents read by the SDK with every attribute, native unchanged', async () => {
      // One at a time: Kafka's readers create their topics first.
      for (const type of [types.native, types.binary, types.structured, types.debezium])
        readers.push(await broker.read(type));
      const [nativeReader, binaryReader, structuredReader, debeziumReader] = readers;
      const eventsOf = (aggregateType: string): TestEvent[] => [
        {
          aggregateType,
          aggregateId: 'o-1',
          eventType: 'OrderPlaced',
          payload: { total: 12.5, items: ['a'], note: 'café' },
          headers: { traceparent: '00-abc-01', ce_forged: 'not an attribute' },
        },
        { aggregateType, aggregateId: 'o-2', eventType: 'OrderShipped', payload: { total: 3 } },
      ];
      const committedAt = Date.now();
      const ids = {
        native: await commitEvents(db.pool, eventsOf(types.native)),
        binary: await commitEvents(db.pool, eventsOf(types.binary)),
        structured: await commitEvents(db.pool, eventsOf(types.structured)),
        debezium: await commitEvents(db.pool, eventsOf(types.debezium)),
      };
      const [native, binary, structured, debezium] = await Promise.all(
        [nativeReader!, binaryReader!, structuredReader!, debeziumReader!].map((reader) =>
          reader.waitForCount(2),
        ),
      );
      await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0, {
        timeoutMs: broker.completionTimeoutMs,
      });

      for (const [index, event] of eventsOf(types.native).entries()) {
        const message = native!.find((m) => broker.delivery(m).id === ids.native[index])!;
        assert.ok(message, `native message ${index} received`);
        const { value, headers } = broker.delivery(message);
        assert.deepEqual(JSON.parse(value), event.payload);
        assert.equal(headers['event_type'], event.eventType);
        assert.equal(headers['ce_specversion'], undefined, 'no CloudEvents attribute on a native message');
        assert.equal(headers['ce_forged'], event.headers?.['ce_forged']);
        broker.assertContract(message, event, ids.native[index]!, committedAt);
      }

      const checks = [
        { messages: binary!, type: types.binary, source: `outbox-relay/${db.name}/public.outbox` },
        { messages: structured!, type: types.structured, source: '/shop/orders' },
      ];
      for (const { messages, type, source } of checks) {
        const ownIds = type === types.binary ? ids.binary : ids.structured;
        for (const [index, event] of eventsOf(type).entries()) {
          const message = messages.find((m) => broker.cloudEvent(m).id === ownIds[index]);
          assert.ok(message, `${type}: event ${index} received`);
          const received = broker.cloudEvent(message);
          assert.equal(received.specversion, '1.0');
          assert.equal(received.id, ownIds[index]);
          assert.equal(received.source, source);
          assert.equal(received.type, event.eventType);
          assert.equal(received.subject, event.aggregateId);
          assert.match(received.time!, RFC_3339_UTC);
          assert.ok(Math.abs(Date.parse(received.time!) - committedAt) < 60_000, 'time is created_at');
          assert.equal(received.datacontenttype, 'application/json');
          assert.deepEqual(received.data, event.payload);
          assert.equal(received['forged'], undefined, "a row's ce_ header is no attribute");
          // The row's own headers travel beside the event, in both modes.
          const { headers } = broker.delivery(message);
          assert.equal(headers['traceparent'], event.headers?.['traceparent']);
          assert.equal(headers['aggregate_type'], undefined, 'no native headers on a CloudEvent');
        }
      }

      for (const [index, event] of eventsOf(types.debezium).entries()) {
        const message = debezium!.find((m) => broker.delivery(m).headers['id'] === ids.debezium[index]);
        assert.ok(message, `debezium message ${index} received`);
        const { value, headers } = broker.delivery(message);
        // The router's defaults: the payload column as a string in Kafka Connect's JSON envelope.
        const envelope = JSON.parse(value) as { schema: { type: string; name: string }; payload: string };
        assert.deepEqual(envelope.schema, {
          type: 'string',
          optional: false,
          name: 'io.debezium.data.Json',
          version: 1,
        });
        assert.deepEqual(JSON.parse(envelope.payload), event.payload);
        assert.equal(headers['aggregate_type'], undefined, 'no native headers on a Debezium message');
      }

      const { samples } = await scrape(metrics);
      for (const format of ['native', 'cloudevents', 'cloudevents-structured', 'debezium'])
        assert.equal(
          sampleValue(samples, 'outbox_relay_events_published_by_format_total', { format }),
          2,
          format,
        );
    });
  });
}
