// The avro, protobuf and json-schema formats and the compatibility checker, on the schema files of
// test/fixtures/schemas; messages are read back with avsc and protobufjs from the same files.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import avsc from 'avsc';
import protobuf from 'protobufjs';
import { ConfigError } from '../../src/config-fields.js';
import { avro } from '../../src/formats/avro.js';
import { crc64Avro } from '../../src/formats/crc64-avro.js';
import type { FormatSettings } from '../../src/formats/format.js';
import { jsonSchema } from '../../src/formats/json-schema.js';
import { protobufFormat } from '../../src/formats/protobuf.js';
import { DEFAULT_FORMAT_SETTINGS } from '../../src/formats/registry.js';
import { compatibilityProblems } from '../../src/schemas/compatibility.js';
import { readSchemaDir } from '../../src/schemas/files.js';
import { outboxEvent } from '../kit/events.js';

const FIXTURES = new URL('../fixtures/schemas/', import.meta.url).pathname;
const settings: FormatSettings = { ...DEFAULT_FORMAT_SETTINGS, schemas: readSchemaDir(`${FIXTURES}good`) };
const placed = (payload: unknown) =>
  outboxEvent({ eventType: 'OrderPlaced', payload: JSON.stringify(payload) });

describe('crc64Avro', () => {
  test('gives the fingerprints other Avro implementations give', () => {
    assert.equal(crc64Avro(''), 0xc15d213aa4d7a795n);
    assert.equal(crc64Avro('"int"'), 0x7275d51a3f395c8fn);
    assert.equal(crc64Avro('"string"'), 0x8f014872634503c7n);
  });
});

describe('avro format', () => {
  const format = avro.create(settings, undefined);
  const v2 = avsc.Type.forSchema(
    JSON.parse(readFileSync(`${FIXTURES}good/OrderPlaced/v2.avsc`, 'utf8')) as avsc.Schema,
  );

  test('writes the single-object encoding with the newest schema, which avsc decodes', () => {
    const message = format.encode(placed({ orderId: 7, totalCents: 4200, note: 'gift' }));
    const body = message.body as Buffer;
    assert.deepEqual([...body.subarray(0, 2)], [0xc3, 0x01]);
    assert.equal(body.readBigUInt64LE(2), crc64Avro(JSON.stringify(v2.schema())));
    assert.deepEqual({ ...v2.fromBuffer(body.subarray(10)) }, { orderId: 7, totalCents: 4200, note: 'gift' });
    assert.equal(message.headers['schema_version'], '2');
    assert.equal(message.headers['content-type'], 'avro/binary');
    assert.equal(message.headers['event_type'], 'OrderPlaced');
    assert.equal(message.contentType, 'avro/binary');
  });

  test('raw framing writes the body alone', () => {
    const raw = avro.create(settings, { framing: 'raw' });
    const body = raw.encode(placed({ orderId: 1, totalCents: 2 })).body as Buffer;
    assert.deepEqual({ ...v2.fromBuffer(body) }, { orderId: 1, totalCents: 2, note: null });
  });

  test('refuses a payload that does not fit, naming the field, and one with an undeclared field', () => {
    const wrong = format.refuse!(placed({ orderId: 'seven', totalCents: 1 }));
    assert.equal(wrong?.reason, 'schema_invalid');
    assert.match(wrong.message, /OrderPlaced\/v2\.avsc: orderId: "seven" is not a valid "long"/);
    assert.equal(
      format.refuse!(placed({ orderId: 1, totalCents: 1, colour: 'red' }))?.reason,
      'schema_invalid',
    );
    assert.equal(format.refuse!(placed({ orderId: 1, totalCents: 1 })), undefined);
  });

  test('refuses an event type without a schema as schema_missing', () => {
    const refusal = format.refuse!(outboxEvent({ eventType: 'Unknown', payload: '{}' }));
    assert.equal(refusal?.reason, 'schema_missing');
    assert.match(refusal.message, /no avro schema for event type "Unknown"/);
  });

  test('needs OUTBOX_SCHEMAS_DIR', () => {
    assert.throws(() => avro.create(DEFAULT_FORMAT_SETTINGS, undefined), /OUTBOX_SCHEMAS_DIR: required/);
  });
});

describe('protobuf format', () => {
  const format = protobufFormat.create(settings, undefined);
  test('writes the newest message type, which protobufjs decodes from the file', () => {
    const message = format.encode(placed({ orderId: 7, totalCents: 4200, channel: 1, tags: ['a'] }));
    const type = protobuf
      .parse(readFileSync(`${FIXTURES}good/OrderPlaced/v2.proto`, 'utf8'), { keepCase: true })
      .root.lookupType('shop.OrderPlaced');
    const decoded = type.toObject(type.decode(message.body as Buffer), { longs: Number });
    assert.deepEqual(decoded, { orderId: 7, totalCents: 4200, channel: 1, tags: ['a'] });
    assert.equal(message.headers['proto_message_type'], 'shop.OrderPlaced');
    assert.equal(message.contentType, 'application/x-protobuf');
  });
  test('refuses a wrong type and an undeclared field', () => {
    assert.match(
      format.refuse!(placed({ orderId: 1, totalCents: 'x' }))!.message,
      /totalCents: integer expected/,
    );
    assert.match(
      format.refuse!(placed({ orderId: 1, colour: 'red' }))!.message,
      /colour: not a field of shop.OrderPlaced/,
    );
  });
});

describe('json-schema format', () => {
  const format = jsonSchema.create(settings, undefined);
  test('passes the payload on unchanged', () => {
    const event = placed({ orderId: 1, totalCents: 5 });
    assert.equal(format.encode(event).body, event.payload);
    assert.equal(format.encode(event).headers['schema_version'], '1');
  });
  test("refuses an invalid payload with ajv's message", () => {
    const refusal = format.refuse!(placed({ orderId: 1, totalCents: -1 }));
    assert.equal(refusal?.reason, 'schema_invalid');
    assert.match(refusal.message, /payload\/totalCents must be >= 0/);
  });
});

describe('compatibilityProblems', () => {
  test('accepts an optional field added with a default, in every mode', () => {
    const set = readSchemaDir(`${FIXTURES}good`);
    for (const mode of ['backward', 'forward', 'full'] as const)
      assert.deepEqual(compatibilityProblems(set, mode), []);
  });
  test('refuses a new field without a default (backward), naming versions and field', () => {
    const problems = compatibilityProblems(readSchemaDir(`${FIXTURES}breaking`), 'backward');
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^OrderPlaced v1 -> v2 \(avro\): v2 cannot read v1 \(backward\): .*currency/);
    assert.deepEqual(compatibilityProblems(readSchemaDir(`${FIXTURES}breaking`), 'forward'), []);
  });
  test('refuses a protobuf field number whose type changed', () => {
    assert.deepEqual(compatibilityProblems(readSchemaDir(`${FIXTURES}proto-breaking`)), [
      'OrderShipped v1 -> v2 (protobuf): field 2 (OrderShipped.carrier) was string, is int32',
    ]);
  });
  test('throws ConfigError naming a schema that does not parse', () => {
    const set = {
      dir: 'x',
      files: [{ eventType: 'E', version: 1, kind: 'avro' as const, name: 'E/v1.avsc', text: '{' }],
    };
    assert.throws(
      () => compatibilityProblems(set),
      (error) => error instanceof ConfigError && /E\/v1\.avsc/.test(error.message),
    );
  });
});
