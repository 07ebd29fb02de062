// The avro, protobuf and json-schema formats end to end on each broker: one relay, a schemas
// directory (test/fixtures/schemas/good), one route per format. What a consumer receives is decoded
// from the schema files alone (test/support/schema-readers.ts: avsc with the writer schema found by
// its fingerprint, protobufjs with the type its header names); a payload that does not fit is parked
// as schema_invalid while the events after it go on; and a breaking schema change is refused, by
// `outbox-relay schemas check` and by the relay's start-up.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import avsc from 'avsc';
import { sinkNamed } from '../../src/sinks/registry.js';
import { kafka, rabbitmq } from '../support/brokers.js';
import type { BrokerFixture, BrokerReader } from '../support/brokers.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { avroSchemasByFingerprint, decodeAvro, decodeProtobuf } from '../support/schema-readers.js';
import { probeUrl, sampleValue, scrape } from '../kit/metrics.js';
import { assertNoProcessLeft, startRelayProcess, startScript } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, KAFKA_BROKER, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const FIXTURES = new URL('../fixtures/schemas/', import.meta.url).pathname;

scenarios(kafka);
scenarios(rabbitmq);

function scenarios<M>(broker: BrokerFixture<M>): void {
  describe(`avro, protobuf and json-schema formats with ${broker.title}`, () => {
    const types = { avro: uniqueName('avro'), protobuf: uniqueName('proto'), json: uniqueName('jsonschema') };
    let db: TestDatabase;
    let dir: string;
    let schemas: string;
    let env: Record<string, string>;
    let relay: RelayProcess;
    const readers = new Map<string, BrokerReader<M>>();
    const read = (type: string): BrokerReader<M> => readers.get(type)!;
    const placed = (aggregateType: string, aggregateId: string, payload: unknown): TestEvent => ({
      aggregateType,
      aggregateId,
      eventType: 'OrderPlaced',
      payload,
    });
    const startRelay = async (): Promise<void> => {
      relay = startRelayProcess(env);
      await relay.waitForLog('streaming');
    };
    /** The message of each id, in the order of `ids`, once all arrived. */
    const messagesOf = (type: string, ids: string[]): Promise<M[]> =>
      waitFor(
        `${type}: messages ${ids.join(', ')}`,
        () => {
          const found: M[] = [];
          for (const id of ids) {
            const message = read(type).messages.find((m) => broker.delivery(m).id === id);
            if (message === undefined) return undefined;
            found.push(message);
          }
          return found;
        },
        { timeoutMs: 60_000 },
      );

    before(async () => {
      db = await createTestDatabase(`${broker.name}_schemas`);
      dir = mkdtempSync(join(tmpdir(), 'outbox-schema-formats-'));
      // Avro starts with v1 alone; the avro test adds v2 and restarts the relay.
      schemas = join(dir, 'schemas');
      mkdirSync(join(schemas, 'OrderPlaced'), { recursive: true });
      for (const file of ['v1.avsc', 'v1.proto', 'v2.proto', 'v1.schema.json'])
        copyFileSync(join(FIXTURES, 'good/OrderPlaced', file), join(schemas, 'OrderPlaced', file));
      const destinations = [{ [broker.name]: sinkNamed(broker.name).defaultDestination as unknown }];
      const routes = join(dir, 'routes.json');
      writeFileSync(
        routes,
        JSON.stringify({
          routes: [
            { aggregateType: types.avro, destinations, format: 'avro' },
            { aggregateType: types.protobuf, destinations, format: 'protobuf' },
            { aggregateType: types.json, destinations, format: 'json-schema' },
          ],
        }),
      );
      env = broker.relayEnv(db, { OUTBOX_ROUTES: routes, OUTBOX_SCHEMAS_DIR: schemas });
      // One at a time: Kafka's readers create their topics first.
      for (const type of Object.values(types)) readers.set(type, await broker.read(type));
      await startRelay();
    });
    after(async () => {
      for (const reader of readers.values()) await reader.stop();
      await relay.stop('SIGKILL');
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('avro: avsc finds each writer schema by fingerprint and reads v1 and v2 messages with v2', async () => {
      const first = [
        placed(types.avro, 'o-1', { orderId: 1, totalCents: 100 }),
        placed(types.avro, 'o-2', { orderId: 2, totalCents: 250 }),
      ];
      const firstIds = await commitEvents(db.pool, first);
      for (const [index, message] of (await messagesOf(types.avro, firstIds)).entries()) {
        const { bytes, headers, key } = broker.delivery(message);
        const decoded = decodeAvro(avroSchemasByFingerprint(schemas), bytes);
        assert.equal(decoded.writer, 'OrderPlaced/v1.avsc');
        assert.deepEqual(decoded.value, first[index]!.payload);
        assert.equal(headers['schema_version'], '1');
        assert.equal(headers['content-type'], 'avro/binary');
        assert.equal(key, first[index]!.aggregateId);
      }

      // A new, compatible version: the relay writes with it from its next start.
      await relay.stop();
      copyFileSync(join(FIXTURES, 'good/OrderPlaced/v2.avsc'), join(schemas, 'OrderPlaced/v2.avsc'));
      await startRelay();
      const second = [placed(types.avro, 'o-1', { orderId: 3, totalCents: 300, note: 'gift' })];
      const secondIds = await commitEvents(db.pool, second);
      const messages = await messagesOf(types.avro, [...firstIds, ...secondIds]);
      const byFingerprint = avroSchemasByFingerprint(schemas);
      const v2 = avsc.Type.forSchema(
        JSON.parse(readFileSync(join(schemas, 'OrderPlaced/v2.avsc'), 'utf8')) as avsc.Schema,
      );
      const decoded = messages.map((message) =>
        decodeAvro(byFingerprint, broker.delivery(message).bytes, v2),
      );
      assert.deepEqual(
        decoded.map(({ writer }) => writer),
        ['OrderPlaced/v1.avsc', 'OrderPlaced/v1.avsc', 'OrderPlaced/v2.avsc'],
      );
      assert.deepEqual(
        decoded.map(({ value }) => value),
        [
          { orderId: 1, totalCents: 100, note: null },
          { orderId: 2, totalCents: 250, note: null },
          { orderId: 3, totalCents: 300, note: 'gift' },
        ],
        "v1's messages read with v2 take the new field's default",
      );
      assert.equal(broker.delivery(messages[2]!).headers['schema_version'], '2');
    });

    test('protobuf: protobufjs decodes each message with the type its header names', async () => {
      const events = [
        placed(types.protobuf, 'o-1', { orderId: 7, totalCents: 4200, channel: 1, tags: ['a', 'b'] }),
        placed(types.protobuf, 'o-2', { orderId: 9_007_199_254, totalCents: 1 }),
      ];
      const ids = await commitEvents(db.pool, events);
      const decoded = (await messagesOf(types.protobuf, ids)).map((message) => {
        const { bytes, headers } = broker.delivery(message);
        assert.equal(headers['proto_message_type'], 'shop.OrderPlaced');
        assert.equal(headers['schema_version'], '2', 'the newest .proto');
        assert.equal(headers['content-type'], 'application/x-protobuf');
        return decodeProtobuf(schemas, bytes, headers);
      });
      assert.deepEqual(decoded, [
        { orderId: 7, totalCents: 4200, channel: 'SHOP', tags: ['a', 'b'] },
        { orderId: 9_007_199_254, totalCents: 1, tags: [] },
      ]);
    });

    test('json-schema: the body is the original JSON, with the schema version', async () => {
      const events = [
        placed(types.json, 'o-1', { orderId: 1, totalCents: 0, note: 'café', items: [{ sku: 'x-1' }] }),
        placed(types.json, 'o-2', { orderId: 2, totalCents: 99 }),
      ];
      const ids = await commitEvents(db.pool, events);
      for (const [index, message] of (await messagesOf(types.json, ids)).entries()) {
        const { value, headers } = broker.delivery(message);
        assert.deepEqual(JSON.parse(value), events[index]!.payload);
        assert.equal(headers['schema_version'], '1');
        assert.equal(headers['event_type'], 'OrderPlaced');
      }
    });

    test('a payload that does not fit is parked as schema_invalid; the events after it are delivered', async () => {
      const bad = {
        [types.avro]: {
          payload: { orderId: 'seven', totalCents: 1 },
          error: /OrderPlaced\/v2\.avsc: orderId/,
        },
        [types.protobuf]: {
          payload: { orderId: 1, totalCents: 'lots' },
          error: /OrderPlaced\/v2\.proto: totalCents/,
        },
        [types.json]: {
          payload: { orderId: 1, totalCents: -5 },
          error: /OrderPlaced\/v1\.schema\.json: .*totalCents/,
        },
      };
      const delivered = new Map<string, number>();
      for (const type of Object.values(types)) delivered.set(type, read(type).messages.length);
      // Per format: the bad one, then one more of its aggregate and one of another, in one transaction.
      const events = Object.values(types).flatMap((type) => [
        placed(type, 'o-1', bad[type]!.payload),
        placed(type, 'o-1', { orderId: 10, totalCents: 10 }),
        placed(type, 'o-3', { orderId: 11, totalCents: 11 }),
      ]);
      const ids = await commitEvents(db.pool, events);
      for (const [typeIndex, type] of Object.values(types).entries()) {
        const after = ids.slice(typeIndex * 3 + 1, typeIndex * 3 + 3);
        await messagesOf(type, after);
        assert.equal(read(type).messages.length, delivered.get(type)! + 2, `${type}: only the two good ones`);
      }
      await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0, {
        timeoutMs: broker.completionTimeoutMs,
      });
      const { rows } = await db.pool.query<{
        id: string;
        aggregate_type: string;
        error: string;
        attempts: number;
      }>('select id, aggregate_type, error, attempts from outbox_dead_letter order by aggregate_type');
      assert.equal(rows.length, 3);
      for (const row of rows) {
        assert.equal(row.id, ids[Object.values(types).indexOf(row.aggregate_type) * 3]);
        assert.match(row.error, bad[row.aggregate_type]!.error);
        assert.equal(row.attempts, 0, 'parked at once, never sent');
      }
      const { samples } = await scrape(await probeUrl(relay));
      assert.equal(
        sampleValue(samples, 'outbox_relay_events_dead_lettered_total', { reason: 'schema_invalid' }),
        3,
      );
    });
  });
}

describe('a breaking schema change', () => {
  test('`outbox-relay schemas check` exits 1 with a line naming the field', async () => {
    for (const [fixture, line] of [
      [
        'breaking',
        /^OrderPlaced v1 -> v2 \(avro\): v2 cannot read v1 \(backward\): .*shop\.OrderPlaced\.currency$/,
      ],
      [
        'proto-breaking',
        /^OrderShipped v1 -> v2 \(protobuf\): field 2 \(OrderShipped\.carrier\) was string, is int32$/,
      ],
    ] as const) {
      const check = startScript('src/cli.ts', ['schemas', 'check', '--dir', join(FIXTURES, fixture)], {});
      assert.equal(await check.exited, 1, check.output.join('\n'));
      assert.ok(
        check.output.some((output) => line.test(output)),
        check.output.join('\n'),
      );
    }
    const good = startScript('src/cli.ts', ['schemas', 'check', '--dir', join(FIXTURES, 'good')], {});
    assert.equal(await good.exited, 0, good.output.join('\n'));
    assert.match(good.output.join('\n'), /are backward compatible/);
  });

  test('the relay refuses to start on it: exit 2 and one line naming OUTBOX_SCHEMAS_DIR and the field', async () => {
    const relay = startRelayProcess({
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/unused',
      KAFKA_BROKERS: KAFKA_BROKER,
      OUTBOX_SCHEMAS_DIR: join(FIXTURES, 'breaking'),
    });
    assert.equal(await relay.exited, 2, relay.output.join('\n'));
    const lines = relay.output.filter((line) => line !== '');
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(
      lines[0]!,
      /^outbox-relay: configuration error: OUTBOX_SCHEMAS_DIR: OrderPlaced v1 -> v2 \(avro\).*currency$/,
    );
  });
});
