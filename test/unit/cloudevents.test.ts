// The CloudEvents formats, read back the way a consumer reads them: with the official CloudEvents
// SDK (its Kafka binding, and its event parser for AMQP), every attribute checked.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CloudEvent, Kafka } from 'cloudevents';
import type { KafkaMessage } from 'cloudevents';
import { cloudevents, cloudeventsStructured } from '../../src/formats/cloudevents.js';
import type { FormatSettings, MessageFormat } from '../../src/formats/format.js';
import { nativeFormat } from '../../src/formats/native.js';
import { Formats } from '../../src/formats/registry.js';
import { Router } from '../../src/routing/router.js';
import { parseRoutes, RoutesFileError } from '../../src/routing/routes-file.js';
import { kafkaRecord, kafkaRecordBytes } from '../../src/sinks/kafka-message.js';
import { amqpHeaders, publishProperties } from '../../src/sinks/rabbitmq-amqp.js';
import type { OutboxEvent } from '../../src/wal/event.js';
import { outboxEvent } from '../kit/events.js';

const SETTINGS: FormatSettings = { database: 'shop', table: 'public.outbox', cloudEventsSource: undefined };
const binary = cloudevents.create(SETTINGS, undefined);
const structured = cloudeventsStructured.create(SETTINGS, undefined);

const EVENT: OutboxEvent = outboxEvent({
  id: '8a1c2f5e-0000-4000-8000-000000000001',
  aggregateType: 'order',
  aggregateId: 'o-42',
  eventType: 'OrderPlaced',
  payload: '{"total":4200,"note":"ünï ✓","items":[1,2]}',
  headers: { traceparent: '00-ab-cd-01', ce_forged: 'x', 'Content-Type': 'text/plain', cloudEvents_id: 'y' },
  createdAt: '2026-11-25T06:08:00.123Z',
});

/** What a Kafka consumer hands the SDK: the record's key, value and headers, as strings. */
function kafkaToEvent(format: MessageFormat, event: OutboxEvent): CloudEvent<unknown> {
  const record = kafkaRecord(format.encode(event));
  const headers = record.headers as Record<string, string>;
  const message: KafkaMessage<string> = {
    key: String(record.key),
    value: String(record.value),
    headers,
    body: String(record.value),
  };
  const received = Kafka.toEvent(message) as CloudEvent<unknown> | CloudEvent<unknown>[];
  assert.ok(!Array.isArray(received));
  // The binding builds the event without validating it: a consumer that cares validates.
  received.validate();
  return received;
}

/** An AMQP consumer: the cloudEvents_ application properties and content-type, through the SDK. */
function amqpToEvent(format: MessageFormat, event: OutboxEvent): CloudEvent<unknown> {
  const message = format.encode(event);
  const properties = publishProperties(message);
  if (properties.contentType === 'application/cloudevents+json')
    return new CloudEvent(JSON.parse(String(message.body)) as Record<string, unknown>);
  const attributes = Object.fromEntries(
    Object.entries(properties.headers as Record<string, string>).flatMap(([name, value]) =>
      name.startsWith('cloudEvents_') ? [[name.slice('cloudEvents_'.length), value]] : [],
    ),
  );
  return new CloudEvent({
    ...attributes,
    datacontenttype: properties.contentType,
    data: JSON.parse(String(message.body)) as unknown,
  });
}

function assertAttributes(received: CloudEvent<unknown>, source = 'outbox-relay/shop/public.outbox'): void {
  assert.equal(received.specversion, '1.0');
  assert.equal(received.id, EVENT.id);
  assert.equal(received.source, source);
  assert.equal(received.type, 'OrderPlaced');
  assert.equal(received.subject, 'o-42');
  assert.equal(received.time, '2026-11-25T06:08:00.123Z');
  assert.equal(received.datacontenttype, 'application/json');
  assert.deepEqual(received.data, { total: 4200, note: 'ünï ✓', items: [1, 2] });
}

describe('the cloudevents format (binary mode)', () => {
  test('Kafka: the SDK reads every attribute from ce_ headers, the payload as data, the key is the aggregate id', () => {
    const received = kafkaToEvent(binary, EVENT);
    assertAttributes(received);
    assert.equal(received['partitionkey'], 'o-42');
    // Nothing else became an attribute: a row's ce_ header is not copied.
    const attributes = Object.keys(received).filter((name) => received[name] !== undefined);
    assert.deepEqual(attributes.sort(), [
      'data',
      'datacontenttype',
      'id',
      'partitionkey',
      'source',
      'specversion',
      'subject',
      'time',
      'type',
    ]);
  });

  test("Kafka: the row's headers travel beside the attributes, except those in the binding's namespace", () => {
    const record = kafkaRecord(binary.encode(EVENT));
    assert.equal(record.key, 'o-42');
    assert.equal(record.value, EVENT.payload);
    assert.deepEqual(record.headers, {
      traceparent: '00-ab-cd-01',
      cloudEvents_id: 'y',
      ce_specversion: '1.0',
      ce_id: EVENT.id,
      ce_source: 'outbox-relay/shop/public.outbox',
      ce_type: 'OrderPlaced',
      ce_subject: 'o-42',
      ce_time: '2026-11-25T06:08:00.123Z',
      'content-type': 'application/json',
    });
  });

  test('AMQP: cloudEvents_ application properties, content-type the datacontenttype, the native properties kept', () => {
    assertAttributes(amqpToEvent(binary, EVENT));
    const properties = publishProperties(binary.encode(EVENT));
    assert.deepEqual(properties, {
      persistent: true,
      mandatory: true,
      messageId: EVENT.id,
      type: 'OrderPlaced',
      contentType: 'application/json',
      timestamp: 1795586880,
      headers: {
        traceparent: '00-ab-cd-01',
        ce_forged: 'x',
        'Content-Type': 'text/plain',
        cloudEvents_specversion: '1.0',
        cloudEvents_id: EVENT.id,
        cloudEvents_source: 'outbox-relay/shop/public.outbox',
        cloudEvents_type: 'OrderPlaced',
        cloudEvents_subject: 'o-42',
        cloudEvents_time: '2026-11-25T06:08:00.123Z',
      },
    });
  });

  test('an unreadable created_at leaves time out; another readable one is written as RFC 3339', () => {
    const none = binary.encode({ ...EVENT, createdAt: '' });
    assert.ok(none.cloudEvent?.mode === 'binary' && !('time' in none.cloudEvent.attributes));
    const offset = kafkaToEvent(binary, { ...EVENT, createdAt: '2026-11-25 07:08:00+01' });
    assert.equal(offset.time, '2026-11-25T06:08:00.000Z');
  });
});

describe('the cloudevents-structured format', () => {
  test('Kafka: the SDK parses the application/cloudevents+json body, every attribute and data', () => {
    const record = kafkaRecord(structured.encode(EVENT));
    assert.equal(record.key, 'o-42');
    assert.deepEqual(record.headers, {
      traceparent: '00-ab-cd-01',
      cloudEvents_id: 'y',
      'content-type': 'application/cloudevents+json',
    });
    assertAttributes(kafkaToEvent(structured, EVENT));
  });

  test('AMQP: the body is the event, content-type application/cloudevents+json, no attribute headers', () => {
    assertAttributes(amqpToEvent(structured, EVENT));
    const properties = publishProperties(structured.encode(EVENT));
    assert.equal(properties.contentType, 'application/cloudevents+json');
    assert.equal(properties.messageId, EVENT.id);
    assert.equal(properties.type, 'OrderPlaced');
    assert.equal(properties.timestamp, 1795586880);
    assert.deepEqual(properties.headers, {
      traceparent: '00-ab-cd-01',
      ce_forged: 'x',
      'Content-Type': 'text/plain',
    });
  });

  test('strings that JSON must escape stay intact', () => {
    const odd = { ...EVENT, eventType: 'Order "Placed"\n\u0001', aggregateId: 'ü\\x' };
    const received = kafkaToEvent(structured, odd);
    assert.equal(received.type, odd.eventType);
    assert.equal(received.subject, odd.aggregateId);
  });
});

describe('CloudEvents sizes and sources', () => {
  test('the size bound is never below the bytes a Kafka record or an AMQP message takes', () => {
    const events = [
      EVENT,
      { ...EVENT, headers: {} },
      { ...EVENT, payload: '"🚀"'.repeat(300), aggregateId: 'ü'.repeat(50) },
      // Decoded from the WAL: the payload's bytes are the body.
      { ...EVENT, payload: '"🚀"'.repeat(300), payloadBytes: Buffer.from('"🚀"'.repeat(300)) },
      { ...EVENT, eventType: '\u0001'.repeat(200), headers: { 'x-ünï': 'välue ✓'.repeat(100) } },
      { ...EVENT, createdAt: '2026-11-25 07:08:00.123456+01' },
    ];
    for (const format of [binary, structured]) {
      for (const each of events) {
        const message = format.encode(each);
        const bound = format.sizeBound(each);
        assert.ok(bound >= kafkaRecordBytes(message), `${format.name}: ${bound} >= Kafka's`);
        const amqp =
          Buffer.byteLength(message.key) +
          Buffer.byteLength(message.body) +
          Object.entries(amqpHeaders(message)).reduce(
            (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value),
            0,
          );
        assert.ok(bound >= amqp, `${format.name}: ${bound} >= AMQP's ${amqp}`);
      }
    }
  });

  test('source: the route option, else OUTBOX_CLOUDEVENTS_SOURCE, else outbox-relay/<database>/<table>', () => {
    const attributes = (format: MessageFormat) => {
      const { cloudEvent } = format.encode(EVENT);
      assert.ok(cloudEvent?.mode === 'binary');
      return cloudEvent.attributes;
    };
    assert.equal(attributes(binary)['source'], 'outbox-relay/shop/public.outbox');
    const configured = { ...SETTINGS, cloudEventsSource: 'https://shop.example/orders' };
    assert.equal(
      attributes(cloudevents.create(configured, undefined))['source'],
      'https://shop.example/orders',
    );
    assert.equal(attributes(cloudevents.create(configured, { source: '/billing' }))['source'], '/billing');
    const spaced = { ...SETTINGS, database: 'my shop' };
    assert.equal(
      attributes(cloudevents.create(spaced, undefined))['source'],
      'outbox-relay/my%20shop/public.outbox',
    );
  });
});

describe('a format per route', () => {
  const formats = new Formats(SETTINGS, 'cloudevents-structured');
  const parse = (document: unknown) =>
    parseRoutes(document, { kafka: true, rabbitmq: true }, undefined, formats);

  test('a route names a format, alone or with options; routes naming none get OUTBOX_FORMAT', () => {
    const spec = parseRoutes(
      {
        routes: [
          { aggregateType: 'order', destinations: [{ kafka: { topic: 'orders' } }], format: 'cloudevents' },
          {
            aggregateType: 'user',
            destinations: [{ kafka: { topic: 'users' } }, { rabbitmq: { exchange: 'users' } }],
            format: { cloudevents: { source: '/users' } },
          },
          { aggregateType: 'legacy', destinations: [{ kafka: { topic: 'legacy' } }], format: 'native' },
        ],
        default: [{ kafka: { topic: 'other' } }],
      },
      { kafka: true, rabbitmq: true },
      undefined,
      formats,
    );
    const router = new Router({ ...spec, format: formats.default });
    const formatOf = (aggregateType: string) => {
      const route = router.route(outboxEvent({ aggregateType }));
      assert.ok('destinations' in route);
      return route.destinations.map(({ format }) => format);
    };
    assert.deepEqual(formatOf('order'), [formats.get('cloudevents')]);
    const [kafka, rabbitmq] = formatOf('user');
    assert.equal(kafka, rabbitmq, 'one instance per spelling');
    assert.equal(kafka!.name, 'cloudevents');
    assert.equal(amqpToEvent(kafka!, EVENT).source, '/users');
    assert.deepEqual(formatOf('legacy'), [nativeFormat]);
    assert.deepEqual(formatOf('shipment'), [formats.default]);
    assert.equal(formats.default.name, 'cloudevents-structured');
  });

  test('mistakes name the route and what is expected', () => {
    const rejection = (format: unknown): string => {
      try {
        parse({ routes: [{ aggregateType: 'order', destinations: [{ kafka: { topic: 'o' } }], format }] });
      } catch (error) {
        assert.ok(error instanceof RoutesFileError);
        return error.message;
      }
      assert.fail('accepted');
    };
    const expected =
      'expected native, cloudevents, cloudevents-structured, debezium, avro, protobuf or json-schema, or { cloudevents: { source } } or { cloudevents-structured: { source } } or { debezium: { expandJsonPayload, additionalPlacement, routeByField, topicPrefix } } or { avro: { framing } }';
    assert.equal(rejection('xml'), `routes[0] (aggregateType "order").format: ${expected}`);
    // An object names a format that takes options: `native` takes none.
    assert.equal(rejection({ xml: {} }), 'routes[0] (aggregateType "order").format: unknown key "xml"');
    assert.equal(rejection({ native: {} }), 'routes[0] (aggregateType "order").format: unknown key "native"');
    assert.equal(rejection({}), `routes[0] (aggregateType "order").format: ${expected}`);
    assert.equal(
      rejection({ cloudevents: { source: 'has spaces' } }),
      'routes[0] (aggregateType "order").format.cloudevents.source: expected a URI reference (RFC 3986 characters, no spaces), e.g. /orders or https://example.com/orders',
    );
    assert.equal(
      rejection({ cloudevents: { sourc: '/x' } }),
      'routes[0] (aggregateType "order").format.cloudevents: unknown key "sourc"',
    );
  });
});
