// Registry mode's pure parts: Confluent's framing and subject names (confluent-framing.ts), the
// refusal decision and the ordered id queue (schema-registry.ts, with a scripted RegistryClient),
// and the SCHEMA_REGISTRY_* settings.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import protobuf from 'protobufjs';
import { ConfigError, loadConfig } from '../../src/config.js';
import { avro } from '../../src/formats/avro.js';
import { encodedBytes } from '../../src/formats/format.js';
import { jsonSchema } from '../../src/formats/json-schema.js';
import { protobufFormat } from '../../src/formats/protobuf.js';
import { outboxEvent } from '../kit/events.js';
import { DEFAULT_FORMAT_SETTINGS } from '../../src/formats/registry.js';
import { readSchemaDir } from '../../src/schemas/files.js';
import {
  confluentHeader,
  encodeMessageIndexes,
  protobufMessageIndexes,
  subjectName,
} from '../../src/formats/confluent-framing.js';
import { RegistryHttpError, registryRefusal, SchemaIds } from '../../src/formats/schema-registry.js';
import type { RegistryClient, RegistrySchema } from '../../src/formats/schema-registry.js';

const AVRO: RegistrySchema = { schemaType: 'AVRO', schema: '"long"' };

describe('confluent-framing', () => {
  test('subjectName follows TopicNameStrategy, RecordNameStrategy and TopicRecordNameStrategy', () => {
    assert.equal(subjectName('topic', 'orders', 'shop.OrderPlaced'), 'orders-value');
    assert.equal(subjectName('record', 'orders', 'shop.OrderPlaced'), 'shop.OrderPlaced');
    assert.equal(subjectName('topic-record', 'orders', 'shop.OrderPlaced'), 'orders-shop.OrderPlaced');
  });

  test('confluentHeader is magic byte 0 and the id, 4 bytes big-endian', () => {
    assert.deepEqual([...confluentHeader(1)], [0, 0, 0, 0, 1]);
    assert.deepEqual([...confluentHeader(0x01020304)], [0, 1, 2, 3, 4]);
  });

  test('encodeMessageIndexes: [0] is the byte 0, else zig-zag varints with the count first', () => {
    assert.deepEqual([...encodeMessageIndexes([0])], [0]);
    assert.deepEqual([...encodeMessageIndexes([1])], [2, 2]);
    assert.deepEqual([...encodeMessageIndexes([1, 0])], [4, 2, 0]);
    assert.deepEqual([...encodeMessageIndexes([64])], [2, 0x80, 0x01]);
  });

  test('protobufMessageIndexes: the path of a message among the messages of its file', () => {
    const { root } = protobuf.parse(`syntax = "proto3"; package shop;
      enum Channel { WEB = 0; }
      message First { int32 a = 1; }
      message Second { message Inner { int32 b = 1; } message Deeper { message Deepest { int32 c = 1; } } }`);
    assert.deepEqual(protobufMessageIndexes(root.lookupType('shop.First')), [0]);
    assert.deepEqual(protobufMessageIndexes(root.lookupType('shop.Second')), [1]);
    assert.deepEqual(protobufMessageIndexes(root.lookupType('shop.Second.Deeper.Deepest')), [1, 1, 0]);
  });
});

describe('registryRefusal', () => {
  test('409 and 422 are refusals; 404 only when schemas are looked up, not registered', () => {
    assert.match(registryRefusal(new RegistryHttpError('no', 409), true)!, /^incompatible/);
    assert.match(registryRefusal(new RegistryHttpError('bad', 422), true)!, /^invalid schema/);
    assert.match(registryRefusal(new RegistryHttpError('none', 404), false)!, /^not registered/);
    assert.equal(registryRefusal(new RegistryHttpError('none', 404), true), undefined);
  });

  test('no answer, 5xx, 401 and 429 are retried', () => {
    for (const status of [500, 503, 401, 429])
      assert.equal(registryRefusal(new RegistryHttpError('x', status), true), undefined, String(status));
    assert.equal(registryRefusal(new Error('connect ECONNREFUSED'), true), undefined);
  });
});

/** A registry answering from a script of outcomes per call: an id, or an error to throw. */
function scriptedClient(script: (number | Error)[]): RegistryClient & { calls: string[] } {
  const calls: string[] = [];
  const answer = (subject: string): Promise<number> => {
    calls.push(subject);
    const next = script.shift() ?? new Error('script ran out');
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  };
  return { calls, register: answer, lookup: answer };
}

describe('SchemaIds', () => {
  test('a known id with nobody waiting is ready at once; the registry is asked once per subject', async () => {
    const client = scriptedClient([7]);
    const ids = new SchemaIds({ client, autoRegister: true, onRetry: () => {} });
    assert.equal(await ids.ready('orders-value', AVRO), undefined);
    assert.equal(ids.idOf('orders-value', AVRO), 7);
    assert.equal(ids.ready('orders-value', AVRO), undefined);
    assert.deepEqual(client.calls, ['orders-value']);
  });

  test('an outage is retried until the registry answers; events settle in arrival order, cached ones too', async () => {
    const down = new Error('connect ECONNREFUSED');
    const client = scriptedClient([down, new RegistryHttpError('unavailable', 503), 3, 4]);
    const retries: number[] = [];
    const ids = new SchemaIds({
      client,
      autoRegister: true,
      onRetry: (_error, _subject, attempt) => retries.push(attempt),
      retryDelay: () => new Promise((resolve) => setImmediate(resolve)),
    });
    const settled: string[] = [];
    const wait = (name: string, subject: string) => {
      const ready = ids.ready(subject, AVRO);
      assert.ok(ready, `${name} waits`);
      return ready.then((refusal) => {
        assert.equal(refusal, undefined);
        settled.push(name);
      });
    };
    await Promise.all([wait('a1', 'a'), wait('b1', 'b'), wait('a2', 'a'), wait('b2', 'b')]);
    assert.deepEqual(settled, ['a1', 'b1', 'a2', 'b2']);
    assert.deepEqual(retries, [1, 2]);
    assert.deepEqual([ids.idOf('a', AVRO), ids.idOf('b', AVRO)], [3, 4]);
  });

  test('two schemas under one subject (two event types on one topic) get an id each', async () => {
    const other: RegistrySchema = { schemaType: 'AVRO', schema: '"string"' };
    const client = scriptedClient([1, 2]);
    const ids = new SchemaIds({ client, autoRegister: true, onRetry: () => {} });
    assert.equal(await ids.ready('orders-value', AVRO), undefined);
    assert.ok(ids.ready('orders-value', other), 'the second schema is fetched too');
    await ids.ready('orders-value', other);
    assert.deepEqual([ids.idOf('orders-value', AVRO), ids.idOf('orders-value', other)], [1, 2]);
    assert.deepEqual(client.calls, ['orders-value', 'orders-value']);
  });

  test('a refusal settles with schema_rejected and is not remembered', async () => {
    const client = scriptedClient([new RegistryHttpError('Schema being registered is incompatible', 409), 5]);
    const ids = new SchemaIds({ client, autoRegister: true, onRetry: () => assert.fail('not retried') });
    const refusal = await ids.ready('orders-value', AVRO);
    assert.equal(refusal?.reason, 'schema_rejected');
    assert.match(refusal.message, /^schema registry, subject orders-value: incompatible/);
    assert.equal(ids.idOf('orders-value', AVRO), undefined);
    assert.equal(await ids.ready('orders-value', AVRO), undefined);
    assert.equal(ids.idOf('orders-value', AVRO), 5);
  });
});

describe('SCHEMA_REGISTRY_* settings', () => {
  const base = { DATABASE_URL: 'postgres://u@h/db', KAFKA_BROKERS: 'k:9092' };

  test('unset: no registry mode; set: defaults topic strategy and auto-registration', () => {
    assert.equal(loadConfig(base).schemaRegistry, undefined);
    assert.deepEqual(
      loadConfig({ ...base, SCHEMA_REGISTRY_URL: 'http://r:8081, https://s/apis/ccompat/v6' }).schemaRegistry,
      {
        urls: ['http://r:8081', 'https://s/apis/ccompat/v6'],
        userInfo: undefined,
        subjectStrategy: 'topic',
        autoRegister: true,
      },
    );
  });

  test('a bad value names its variable and what is expected', () => {
    for (const [variable, value, expected] of [
      ['SCHEMA_REGISTRY_URL', 'r:8081', 'expected comma-separated http:// or https:// URLs'],
      ['SCHEMA_REGISTRY_SUBJECT_STRATEGY', 'record-name', 'expected one of topic, record, topic-record'],
      ['SCHEMA_REGISTRY_AUTO_REGISTER', 'yes', 'expected true or false'],
      ['SCHEMA_REGISTRY_USER_INFO', 'nocolon', 'expected user:password'],
    ]) {
      const env = { ...base, SCHEMA_REGISTRY_URL: 'http://r:8081', [variable!]: value };
      assert.throws(() => loadConfig(env), { message: `${variable}: ${expected}` });
    }
    assert.throws(() => loadConfig({ ...base, SCHEMA_REGISTRY_USER_INFO: 'u:p' }), {
      message: 'SCHEMA_REGISTRY_URL: required with SCHEMA_REGISTRY_USER_INFO',
    });
  });
});

describe('avro framing confluent', () => {
  test('without SCHEMA_REGISTRY_URL it is a configuration error naming the variable', () => {
    const schemas = readSchemaDir(new URL('../fixtures/schemas/registry/', import.meta.url).pathname);
    assert.throws(() => avro.create({ ...DEFAULT_FORMAT_SETTINGS, schemas }, { framing: 'confluent' }), {
      name: ConfigError.name,
      message: 'SCHEMA_REGISTRY_URL: required: a route uses the avro format with framing confluent',
    });
    assert.equal(avro.create({ ...DEFAULT_FORMAT_SETTINGS, schemas }, undefined).prepare, undefined);
  });
});

describe('schema formats in registry mode', () => {
  const schemas = readSchemaDir(new URL('../fixtures/schemas/registry/', import.meta.url).pathname);
  const registered: [string, string][] = [];
  const client: RegistryClient = {
    register: (subject, schema) => {
      registered.push([subject, schema.schemaType]);
      return Promise.resolve(41 + registered.length);
    },
    lookup: () => Promise.reject(new Error('not used')),
  };
  const settings = {
    ...DEFAULT_FORMAT_SETTINGS,
    schemas,
    schemaRegistry: {
      settings: {
        urls: ['http://r'],
        userInfo: undefined,
        subjectStrategy: 'topic' as const,
        autoRegister: true,
      },
      client,
      onRetry: () => assert.fail('no outage here'),
    },
  };
  const destination = { sink: 'kafka', topic: 'orders', label: 'orders' };
  const event = outboxEvent({ eventType: 'OrderPlaced', payload: '{"orderId":7,"totalCents":42}' });

  test('protobuf: magic byte, id, message indexes, body; sizeBound is the framed size', async () => {
    const format = protobufFormat.create(settings, undefined);
    assert.equal(format.refuse?.(event), undefined);
    assert.equal(await format.prepare?.(event, destination), undefined);
    assert.equal(format.prepare?.(event, destination), undefined, 'the id is known now');
    const message = format.encode(event, destination);
    const body = message.body as Buffer;
    assert.deepEqual([...body.subarray(0, 6)], [0, 0, 0, 0, 42, 0]);
    const type = protobuf
      .parse(schemas.files.find((f) => f.name === 'OrderPlaced/v2.proto')!.text, { keepCase: true })
      .root.lookupType('shop.OrderPlaced');
    assert.deepEqual(type.toObject(type.decode(body.subarray(6)), { longs: Number }), {
      orderId: 7,
      totalCents: 42,
    });
    assert.equal(format.sizeBound(event, destination), encodedBytes(message));
    assert.deepEqual(registered.at(-1), ['orders-value', 'PROTOBUF']);
  });

  test('json-schema: magic byte, id, the payload as stored', async () => {
    const format = jsonSchema.create(settings, undefined);
    await format.prepare?.(event, destination);
    const body = format.body(event, destination) as Buffer;
    assert.equal(body[0], 0);
    assert.equal(body.subarray(5).toString(), event.payload);
    assert.equal(format.sizeBound(event, destination), encodedBytes(format.encode(event, destination)));
    assert.deepEqual(registered.at(-1), ['orders-value', 'JSON']);
  });

  test('encoding before prepare() settled, or without a destination, is a caller mistake', () => {
    const format = avro.create(settings, undefined);
    assert.throws(() => format.encode(event, destination), /no schema id for subject orders-value yet/);
    assert.throws(() => format.encode(event), /registry mode encodes for a destination/);
  });
});
