import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { encodedBytes } from '../../src/formats/format.js';
import { messageHeaders, nativeFormat } from '../../src/formats/native.js';
import { DEFAULT_FORMAT, FORMAT_NAMES, formatDescriptorNamed, Formats } from '../../src/formats/registry.js';
import { RECORD_MODULE } from '../../src/sinks/kafkajs-internals.js';
import { publishProperties } from '../../src/sinks/rabbitmq-amqp.js';
import { rowToEvent } from '../../src/wal/decode.js';
import type { OutboxEvent } from '../../src/wal/event.js';

const event = (headers: Record<string, string>): OutboxEvent => ({
  id: '8a1c2f5e-0000-4000-8000-000000000001',
  aggregateType: 'order',
  aggregateId: '42',
  eventType: 'OrderPlaced',
  payload: '{}',
  headers,
  createdAt: '2026-11-25T06:08:00.000Z',
});

describe('messageHeaders', () => {
  test("the row's headers first, then the event's own", () => {
    const headers = messageHeaders(event({ traceparent: '00-ab-cd-01', tenant: 't1' }));
    assert.deepEqual(Object.entries(headers), [
      ['traceparent', '00-ab-cd-01'],
      ['tenant', 't1'],
      ['id', '8a1c2f5e-0000-4000-8000-000000000001'],
      ['aggregate_type', 'order'],
      ['aggregate_id', '42'],
      ['event_type', 'OrderPlaced'],
      ['created_at', '2026-11-25T06:08:00.000Z'],
    ]);
  });

  test("the event's own win over row headers of the same name", () => {
    const headers = messageHeaders(event({ id: 'forged', event_type: 'Forged' }));
    assert.equal(headers['id'], '8a1c2f5e-0000-4000-8000-000000000001');
    assert.equal(headers['event_type'], 'OrderPlaced');
  });
});

// The bytes the relay wrote before formats were a layer (captured from the sinks' own code): a
// change here changes what consumers receive.
const FIXED: OutboxEvent = {
  id: '8a1c2f5e-0000-4000-8000-000000000001',
  aggregateType: 'order',
  aggregateId: 'o-42',
  eventType: 'OrderPlaced',
  payload: '{"total":4200,"note":"ünï ✓"}',
  headers: { traceparent: '00-ab-cd-01', id: 'forged' },
  createdAt: '2026-11-25T06:08:00.123Z',
};
const FIXED_KAFKA_RECORD =
  '9a03000000086f2d3432427b22746f74616c223a343230302c226e6f7465223a22c3bc6ec3af20e29c93227d0c16747261' +
  '6365706172656e741630302d61622d63642d30310469644838613163326635652d303030302d343030302d383030302d30' +
  '30303030303030303030311c6167677265676174655f747970650a6f72646572186167677265676174655f6964086f2d34' +
  '32146576656e745f74797065164f72646572506c6163656414637265617465645f617430323032362d31312d3235543036' +
  '3a30383a30302e3132335a';

describe('the native format', () => {
  test('is the registry default, found by its name', () => {
    assert.equal(DEFAULT_FORMAT, nativeFormat);
    assert.equal(new Formats().default, nativeFormat);
    assert.equal(new Formats().get('native'), nativeFormat);
    assert.deepEqual(FORMAT_NAMES, [
      'native',
      'cloudevents',
      'cloudevents-structured',
      'debezium',
      'avro',
      'protobuf',
      'json-schema',
    ]);
    assert.throws(
      () => formatDescriptorNamed('xml'),
      /unknown message format "xml" \(expected one of native, cloudevents, cloudevents-structured, debezium, avro, protobuf, json-schema\)/,
    );
  });

  test('key, body, headers and properties of an event', () => {
    const message = nativeFormat.encode(FIXED);
    assert.equal(message.key, 'o-42');
    assert.equal(message.body, '{"total":4200,"note":"ünï ✓"}');
    assert.equal(nativeFormat.body(FIXED), message.body);
    assert.deepEqual(Object.entries(message.headers), [
      ['traceparent', '00-ab-cd-01'],
      ['id', '8a1c2f5e-0000-4000-8000-000000000001'],
      ['aggregate_type', 'order'],
      ['aggregate_id', 'o-42'],
      ['event_type', 'OrderPlaced'],
      ['created_at', '2026-11-25T06:08:00.123Z'],
    ]);
    assert.equal(message.id, '8a1c2f5e-0000-4000-8000-000000000001');
    assert.equal(message.type, 'OrderPlaced');
    assert.equal(message.contentType, 'application/json');
    assert.equal(message.timestampSeconds, 1795586880);
    assert.equal(nativeFormat.encode({ ...FIXED, createdAt: 'not a time' }).timestampSeconds, undefined);
  });

  test('a Kafka record of it has the bytes the relay always wrote', () => {
    const { key, body, headers } = nativeFormat.encode(FIXED);
    // kafkajs' own record encoder: the bytes of one record as kafkajs writes them.
    const encodeRecord = createRequire(import.meta.url)(RECORD_MODULE) as (record: object) => {
      buffer: Buffer;
    };
    const record = encodeRecord({ key, value: body, headers });
    assert.equal(record.buffer.toString('hex'), FIXED_KAFKA_RECORD);
  });

  test("its AMQP properties are persistent, mandatory and the message's own", () => {
    assert.deepEqual(publishProperties(nativeFormat.encode(FIXED)), {
      persistent: true,
      mandatory: true,
      messageId: '8a1c2f5e-0000-4000-8000-000000000001',
      type: 'OrderPlaced',
      contentType: 'application/json',
      timestamp: 1795586880,
      headers: nativeFormat.encode(FIXED).headers,
    });
  });

  test('an event decoded from the WAL: its payload bytes are the body, the same record, the bound holds', () => {
    const decoded = rowToEvent({
      id: FIXED.id,
      aggregate_type: FIXED.aggregateType,
      aggregate_id: FIXED.aggregateId,
      event_type: FIXED.eventType,
      payload: Buffer.from(FIXED.payload),
      headers: JSON.stringify(FIXED.headers),
      created_at: '2026-11-25 06:08:00.123+00',
    });
    const message = nativeFormat.encode(decoded);
    assert.equal(message.body, decoded.payloadBytes);
    assert.equal(nativeFormat.body(decoded), decoded.payloadBytes);
    assert.equal(decoded.payload, FIXED.payload);
    const encodeRecord = createRequire(import.meta.url)(RECORD_MODULE) as (record: object) => {
      buffer: Buffer;
    };
    const { key, body, headers } = message;
    assert.equal(encodeRecord({ key, value: body, headers }).buffer.toString('hex'), FIXED_KAFKA_RECORD);
    assert.ok(nativeFormat.sizeBound(decoded) >= encodedBytes(message));
  });

  test('its size bound is never below the bytes encoded, headers included', () => {
    const events = [
      FIXED,
      { ...FIXED, headers: {} },
      { ...FIXED, payload: '🚀'.repeat(1000), aggregateId: 'ü'.repeat(50) },
      { ...FIXED, headers: { 'x-ünï': 'välue ✓'.repeat(100) } },
    ];
    for (const each of events) {
      const exact = encodedBytes(nativeFormat.encode(each));
      assert.ok(nativeFormat.sizeBound(each) >= exact, `${nativeFormat.sizeBound(each)} >= ${exact}`);
    }
    // key + body + every header name and value, as a Kafka record counts them.
    const message = nativeFormat.encode(FIXED);
    const byHand =
      Buffer.byteLength(message.key) +
      Buffer.byteLength(message.body) +
      Object.entries(message.headers).reduce(
        (sum, [n, v]) => sum + Buffer.byteLength(n) + Buffer.byteLength(v),
        0,
      );
    assert.equal(encodedBytes(message), byHand);
  });
});
