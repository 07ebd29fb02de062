// Registry mode (SCHEMA_REGISTRY_URL) against a real registry: Apicurio Registry 2.0.2 and its
// Confluent-compatible API (deploy/local/schema-registry.sh). The relay publishes avro, protobuf and
// json-schema to Kafka, and avro to RabbitMQ, in Confluent's wire format; the consumer reads them
// with Confluent's own deserializers (@confluentinc/schemaregistry: AvroDeserializer,
// JsonDeserializer) and checks the subject each strategy names and the schema id in each message.
// Apicurio 2.0.2 serves a schema by id without its type and never as a serialized descriptor, which
// Confluent's ProtobufDeserializer needs: Protobuf messages are read by their framing (id, message
// indexes) and protobufjs with the schema the registry serves for that id. A schema the registry
// refuses under BACKWARD parks its events; a registry outage under a stream of events loses none,
// keeps order per key and parks none.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  AvroDeserializer,
  Compatibility,
  JsonDeserializer,
  SchemaRegistryClient,
  SerdeType,
} from '@confluentinc/schemaregistry';
import protobuf from 'protobufjs';
import { commitEvents, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { createTopics, TopicReader } from '../support/kafka.js';
import { outboxBinding, QueueReader } from '../support/rabbitmq.js';
import type { ReceivedMessage } from '../support/kafka.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import {
  createTestDatabase,
  localService,
  RABBITMQ_URL,
  SCHEMA_REGISTRY_URL,
  uniqueName,
} from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const SCHEMAS = new URL('../fixtures/schemas/registry/', import.meta.url).pathname;
const schemaText = (file: string): string => readFileSync(join(SCHEMAS, 'OrderPlaced', file), 'utf8');

describe('registry mode: Confluent wire format with Apicurio Registry 2.0.2 (ccompat v6)', () => {
  const registry = new SchemaRegistryClient({ baseURLs: [SCHEMA_REGISTRY_URL] });
  const avroReader = new AvroDeserializer(registry, SerdeType.VALUE, {});
  const jsonReader = new JsonDeserializer(registry, SerdeType.VALUE, {});
  const topics = {
    avro: uniqueName('reg_avro'),
    protobuf: uniqueName('reg_proto'),
    json: uniqueName('reg_json'),
    refused: uniqueName('reg_refused'),
    outage: uniqueName('reg_outage'),
    lookup: uniqueName('reg_lookup'),
  };
  const rabbitType = uniqueName('reg_rabbit');
  let db: TestDatabase;
  let dir: string;
  let routes: string;
  let relay: RelayProcess;
  let reader: TopicReader;

  const placed = (aggregateType: string, aggregateId: string, payload: unknown): TestEvent => ({
    aggregateType,
    aggregateId,
    eventType: 'OrderPlaced',
    payload,
  });
  const startRelay = async (strategy = 'topic', autoRegister = 'true'): Promise<void> => {
    relay = startRelayProcess(
      relayEnv(db, {
        SCHEMA_REGISTRY_AUTO_REGISTER: autoRegister,
        OUTBOX_ROUTES: routes,
        OUTBOX_SCHEMAS_DIR: SCHEMAS,
        RABBITMQ_URL,
        SCHEMA_REGISTRY_URL,
        SCHEMA_REGISTRY_SUBJECT_STRATEGY: strategy,
      }),
    );
    await relay.waitForLog('streaming');
  };
  /** The messages of `ids`, in the order of `ids`, once all arrived. */
  const messagesOf = (ids: string[]): Promise<ReceivedMessage[]> =>
    waitFor(
      `messages ${ids.length}`,
      () => {
        const found = ids.map((id) => reader.messages.find((m) => m.headers['id'] === id));
        return found.every((m) => m !== undefined) ? found : undefined;
      },
      { timeoutMs: 60_000 },
    );
  const schemaIdOf = (bytes: Buffer): number => {
    assert.equal(bytes[0], 0, 'magic byte 0');
    return bytes.readUInt32BE(1);
  };

  before(async () => {
    db = await createTestDatabase('registry');
    dir = mkdtempSync(join(tmpdir(), 'outbox-schema-registry-'));
    routes = join(dir, 'routes.json');
    const route = (topic: string, format: string) => ({
      aggregateType: topic,
      destinations: [{ kafka: { topic } }],
      format,
    });
    writeFileSync(
      routes,
      JSON.stringify({
        routes: [
          route(topics.avro, 'avro'),
          route(topics.protobuf, 'protobuf'),
          route(topics.json, 'json-schema'),
          route(topics.refused, 'avro'),
          route(topics.outage, 'avro'),
          route(topics.lookup, 'avro'),
          {
            aggregateType: rabbitType,
            destinations: [{ rabbitmq: { exchange: 'outbox', routingKey: '${aggregateType}.${eventType}' } }],
            format: 'avro',
          },
          {
            aggregateType: 'reg_strategy_*',
            destinations: [{ kafka: { topic: '${aggregateType}' } }],
            format: 'avro',
          },
        ],
      }),
    );
    await createTopics(Object.values(topics));
    reader = await TopicReader.start(Object.values(topics));
    await startRelay();
  });
  after(async () => {
    await reader.stop();
    await relay.stop('SIGKILL');
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('topic strategy: each format registered under <topic>-value; Confluent deserializers read the messages', async () => {
    const events = [
      placed(topics.avro, 'o-1', { orderId: 1, totalCents: 100 }),
      placed(topics.avro, 'o-2', { orderId: 2, totalCents: 250 }),
      placed(topics.protobuf, 'o-1', { orderId: 7, totalCents: 4200, channel: 1, tags: ['a'] }),
      placed(topics.json, 'o-1', { orderId: 3, totalCents: 0 }),
    ];
    const ids = await commitEvents(db.pool, events);
    const messages = await messagesOf(ids);

    const subjects = await registry.getAllSubjects();
    for (const topic of [topics.avro, topics.protobuf, topics.json])
      assert.ok(subjects.includes(`${topic}-value`), `${topic}-value in ${subjects.join(', ')}`);
    const avroId = await registry.getId(`${topics.avro}-value`, {
      schemaType: 'AVRO',
      schema: schemaText('v1.avsc'),
    });
    for (const [index, message] of messages.slice(0, 2).entries()) {
      assert.equal(schemaIdOf(message.valueBytes), avroId);
      const value = (await avroReader.deserialize(topics.avro, message.valueBytes)) as object;
      assert.deepEqual({ ...value }, events[index]!.payload);
      assert.equal(message.key, events[index]!.aggregateId);
    }

    const protoMessage = messages[2]!;
    const protoId = schemaIdOf(protoMessage.valueBytes);
    assert.equal(
      protoId,
      await registry.getId(`${topics.protobuf}-value`, {
        schemaType: 'PROTOBUF',
        schema: schemaText('v2.proto'),
      }),
    );
    // shop.OrderPlaced is the file's first message: message indexes [0], written as the single byte 0.
    assert.equal(protoMessage.valueBytes[5], 0);
    const served = await registry.getBySubjectAndId(`${topics.protobuf}-value`, protoId);
    const type = protobuf.parse(served.schema, { keepCase: true }).root.lookupType('shop.OrderPlaced');
    assert.deepEqual(
      type.toObject(type.decode(protoMessage.valueBytes.subarray(6)), { enums: String, longs: Number }),
      {
        orderId: 7,
        totalCents: 4200,
        channel: 'SHOP',
        tags: ['a'],
      },
    );

    const jsonMessage = messages[3]!;
    assert.equal(
      schemaIdOf(jsonMessage.valueBytes),
      await registry.getId(`${topics.json}-value`, {
        schemaType: 'JSON',
        schema: schemaText('v1.schema.json'),
      }),
    );
    assert.deepEqual(await jsonReader.deserialize(topics.json, jsonMessage.valueBytes), events[3]!.payload);
  });

  test('RabbitMQ: the same framing, the subject named after the exchange', async () => {
    const queue = await QueueReader.start([outboxBinding(rabbitType)]);
    try {
      const payload = { orderId: 11, totalCents: 1100 };
      const [id] = await commitEvents(db.pool, [placed(rabbitType, 'o-1', payload)]);
      const [message] = await queue.waitForCount(1, 60_000);
      assert.equal(message!.messageId, id);
      assert.equal(
        schemaIdOf(message!.content),
        await registry.getId('outbox-value', { schemaType: 'AVRO', schema: schemaText('v1.avsc') }),
      );
      assert.deepEqual(
        { ...((await avroReader.deserialize('outbox', message!.content)) as object) },
        payload,
      );
    } finally {
      await queue.stop();
    }
  });

  test('a schema the registry refuses under BACKWARD parks its events as schema_rejected; the others flow', async () => {
    const subject = `${topics.refused}-value`;
    // Registered first: a version without totalCents, which the relay's v1 (totalCents, no default) cannot read.
    const older = {
      type: 'record',
      name: 'OrderPlaced',
      namespace: 'shop',
      fields: [{ name: 'orderId', type: 'long' }],
    };
    await registry.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(older) });
    await registry.updateConfig(subject, { compatibility: Compatibility.BACKWARD });
    const before = reader.messages.length;
    const ids = await commitEvents(db.pool, [
      placed(topics.refused, 'o-1', { orderId: 1, totalCents: 1 }),
      placed(topics.avro, 'o-1', { orderId: 5, totalCents: 5 }),
      placed(topics.refused, 'o-2', { orderId: 2, totalCents: 2 }),
    ]);
    const [delivered] = await messagesOf([ids[1]!]);
    assert.deepEqual(
      { ...((await avroReader.deserialize(topics.avro, delivered!.valueBytes)) as object) },
      {
        orderId: 5,
        totalCents: 5,
      },
    );
    await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0, { timeoutMs: 30_000 });
    const { rows } = await db.pool.query<{
      id: string;
      error: string;
      attempts: number;
      destination: string;
    }>('select id, error, attempts, destination from outbox_dead_letter order by aggregate_id');
    assert.deepEqual(
      rows.map((row) => row.id),
      [ids[0], ids[2]],
    );
    for (const row of rows) {
      assert.match(row.error, new RegExp(`^schema registry, subject ${subject}: incompatible`));
      assert.equal(row.attempts, 0);
      assert.equal(row.destination, `kafka:${topics.refused}`);
    }
    assert.equal(reader.messages.length, before + 1, 'nothing of the refused subject was published');
  });

  test('record and topic-record strategies name the subject after the record', async () => {
    for (const [strategy, subjectOf] of [
      ['topic-record', (topic: string) => `${topic}-shop.OrderPlaced`],
      ['record', () => 'shop.OrderPlaced'],
    ] as const) {
      await relay.stop();
      await startRelay(strategy);
      const topic = uniqueName('reg_strategy');
      await createTopics([topic]);
      const strategyReader = await TopicReader.start([topic]);
      try {
        const [id] = await commitEvents(db.pool, [placed(topic, 'o-1', { orderId: 9, totalCents: 9 })]);
        const [message] = await strategyReader.waitForCount(1, 60_000);
        assert.equal(message!.headers['id'], id);
        const subject = subjectOf(topic);
        assert.ok((await registry.getAllSubjects()).includes(subject), `subject ${subject}`);
        assert.equal(
          schemaIdOf(message!.valueBytes),
          await registry.getId(subject, { schemaType: 'AVRO', schema: schemaText('v1.avsc') }),
        );
        assert.deepEqual(
          { ...((await avroReader.deserialize(topic, message!.valueBytes)) as object) },
          {
            orderId: 9,
            totalCents: 9,
          },
        );
      } finally {
        await strategyReader.stop();
      }
    }
    await relay.stop();
    await startRelay();
  });

  test('auto-registration off: an unregistered schema parks its events; once registered, its id is used', async () => {
    await relay.stop();
    await startRelay('topic', 'false');
    const subject = `${topics.lookup}-value`;
    const [parked] = await commitEvents(db.pool, [
      placed(topics.lookup, 'o-1', { orderId: 1, totalCents: 1 }),
    ]);
    await waitFor('row parked', async () => (await outboxCount(db.pool)) === 0, { timeoutMs: 30_000 });
    const { rows } = await db.pool.query<{ error: string }>(
      'select error from outbox_dead_letter where id = $1',
      [parked],
    );
    assert.match(rows[0]?.error ?? '', new RegExp(`^schema registry, subject ${subject}: not registered`));
    assert.equal((await registry.getAllSubjects()).includes(subject), false, 'the relay registered nothing');

    const id = await registry.register(subject, { schemaType: 'AVRO', schema: schemaText('v1.avsc') });
    const [sent] = await commitEvents(db.pool, [placed(topics.lookup, 'o-1', { orderId: 2, totalCents: 2 })]);
    const [message] = await messagesOf([sent!]);
    assert.equal(schemaIdOf(message!.valueBytes), id);
    assert.deepEqual(
      { ...((await avroReader.deserialize(topics.lookup, message!.valueBytes)) as object) },
      {
        orderId: 2,
        totalCents: 2,
      },
    );
    await relay.stop();
    await startRelay();
  });

  test('a registry outage under a stream of events: none lost, order per key kept, none parked', async () => {
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
    let sequence = 0;
    const ids: string[] = [];
    const commitSome = async (transactions: number): Promise<void> => {
      for (let i = 0; i < transactions; i++) {
        const events = keys.map((key) => placed(topics.outage, key, { orderId: sequence++, totalCents: 1 }));
        ids.push(...(await commitEvents(db.pool, events)));
      }
    };
    const deadLettersBefore = (await db.pool.query('select 1 from outbox_dead_letter')).rowCount;
    await localService('schema-registry', 'stop');
    // The relay has no id for this topic's subject yet: every event of it waits for the registry.
    await commitSome(10);
    await relay.waitForLog('schema registry request failed, retrying');
    await commitSome(10);
    assert.equal(
      reader.messages.filter((m) => m.topic === topics.outage).length,
      0,
      'nothing sent meanwhile',
    );
    await localService('schema-registry', 'start');
    await commitSome(10);
    // The restarted registry keeps its schemas in memory: it starts empty, so ids start again.
    const restarted = new AvroDeserializer(
      new SchemaRegistryClient({ baseURLs: [SCHEMA_REGISTRY_URL] }),
      SerdeType.VALUE,
      {},
    );
    const messages = await messagesOf(ids);
    const received = reader.messages.filter((m) => m.topic === topics.outage);
    assert.equal(new Set(received.map((m) => m.headers['id'])).size, ids.length, 'every event, once');
    const lastByKey = new Map<string, number>();
    for (const message of received) {
      const value = (await restarted.deserialize(topics.outage, message.valueBytes)) as { orderId: number };
      const last = lastByKey.get(message.key) ?? -1;
      assert.ok(value.orderId > last, `${message.key}: ${value.orderId} after ${last}`);
      lastByKey.set(message.key, value.orderId);
    }
    assert.equal(messages.length, 150);
    await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0, { timeoutMs: 30_000 });
    assert.equal((await db.pool.query('select 1 from outbox_dead_letter')).rowCount, deadLettersBefore);
  });
});
