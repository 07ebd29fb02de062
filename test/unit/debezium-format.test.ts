// The debezium format against what real Debezium wrote. The fixtures in test/fixtures/debezium were
// produced by test/compat/capture-debezium-fixtures.ts: Kafka Connect 4.1.1 standalone with the
// Debezium 3.4.3.Final PostgreSQL connector and its Outbox Event Router (JsonConverter, schemas
// enabled), one connector per file, reading the rows of test/compat/debezium-rows.ts from our outbox
// table; each case holds the event as the relay's decoder builds it from that row (rowToEvent) and
// the Kafka record Debezium produced from it, as UTF-8 text.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { jacksonString, javaDouble } from '../../src/formats/connect-json.js';
import { createDebeziumFormat, debeziumOptionsSchema, zonedTimestamp } from '../../src/formats/debezium.js';
import { compileTemplate } from '../../src/routing/template.js';
import type { OutboxEvent } from '../../src/wal/event.js';
import { relayFormatOptions } from '../compat/debezium-rows.js';
import { outboxEvent } from '../kit/events.js';

interface Fixture {
  readonly topicPrefix: string;
  readonly router: Readonly<Record<string, string>>;
  readonly cases: readonly {
    readonly event: OutboxEvent;
    readonly debezium: {
      readonly topic: string;
      readonly key: string;
      readonly value: string;
      readonly headers: readonly [string, string][];
    };
  }[];
}

const DIR = new URL('../fixtures/debezium/', import.meta.url);

// Debezium 3 adds these to every record by default (extended.headers.enabled): they name the
// connector and its task's run, not the event, so the relay does not write them.
const CONTEXT_HEADERS = [
  '__debezium.context.connectorLogicalName',
  '__debezium.context.taskId',
  '__debezium.context.connectorName',
  '__debezium.context.runId',
];

/** The routes-file options that say what the connector's router properties say. */
const optionsFor = (fixture: Fixture) =>
  debeziumOptionsSchema.parse(relayFormatOptions(fixture.router, fixture.topicPrefix));

describe('debezium format against records captured from Debezium', () => {
  for (const file of readdirSync(DIR).filter((name) => name.endsWith('.json'))) {
    const fixture = JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as Fixture;
    test(`${file}: key, value and headers byte for byte, and Debezium's default topic`, () => {
      const format = createDebeziumFormat(optionsFor(fixture), 'public.outbox');
      const topic = compileTemplate('outbox.event.${aggregateType}');
      assert.ok(fixture.cases.length > 0);
      for (const { event, debezium } of fixture.cases) {
        const message = format.encode(event);
        const what = `${file}, ${event.eventType} ${event.payload}`;
        assert.equal(message.key, debezium.key, what);
        assert.equal(message.body, debezium.value, what);
        const context = debezium.headers.filter(([name]) => name.startsWith('__debezium.context.'));
        assert.deepEqual(
          context.map(([name]) => name),
          CONTEXT_HEADERS,
          what,
        );
        assert.deepEqual(
          Object.entries(message.headers),
          debezium.headers.filter(([name]) => !name.startsWith('__debezium.context.')),
          what,
        );
        assert.equal(topic.render(event), debezium.topic, what);
        assert.equal(
          format.sizeBound(event),
          Buffer.byteLength(message.key) +
            Buffer.byteLength(message.body) +
            Object.entries(message.headers).reduce(
              (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value),
              0,
            ),
        );
      }
    });
  }
});

describe('debezium format options', () => {
  const error = (options: unknown) => {
    const result = debeziumOptionsSchema.safeParse(options);
    assert.equal(result.success, false);
    return result.error.issues[0]!;
  };

  test('defaults: no expansion, no placement, routed by aggregate_type', () => {
    assert.deepEqual(debeziumOptionsSchema.parse({}), {
      expandJsonPayload: false,
      additionalPlacement: [],
      routeByField: 'aggregate_type',
    });
  });

  test("parses the router's placement syntax, the alias defaulting to the column", () => {
    const options = debeziumOptionsSchema.parse({
      additionalPlacement: 'event_type:header:eventType, created_at:envelope',
      topicPrefix: 'dbserver1',
    });
    assert.deepEqual(options.additionalPlacement, [
      { column: 'event_type', placement: 'header', alias: 'eventType' },
      { column: 'created_at', placement: 'envelope', alias: 'created_at' },
    ]);
  });

  test('refuses an unknown column, a partition placement and a malformed entry, naming them', () => {
    assert.match(error({ additionalPlacement: 'type:header' }).message, /"type" is not an outbox column/);
    assert.match(
      error({ additionalPlacement: 'aggregate_id:partition' }).message,
      /partition is not supported/,
    );
    assert.match(
      error({ additionalPlacement: 'event_type:body' }).message,
      /expected column:header or column:envelope/,
    );
    assert.match(
      error({ additionalPlacement: 'event_type:header:a:b' }).message,
      /expected column:placement\[:alias\]/,
    );
  });

  test('requires topicPrefix with an envelope placement', () => {
    const issue = error({ additionalPlacement: 'event_type:envelope:type' });
    assert.deepEqual(issue.path, ['topicPrefix']);
    assert.match(issue.message, /required with an envelope placement/);
  });

  test('refuses unknown options', () => {
    assert.equal(error({ expandJsonPayload: true, extra: 1 }).code, 'unrecognized_keys');
  });
});

describe('debezium format details', () => {
  test("javaDouble writes Java's Double.toString", () => {
    const cases: [number, string][] = [
      [0, '0.0'],
      [-0, '-0.0'],
      [1.5, '1.5'],
      [100, '100.0'],
      [0.001, '0.001'],
      [0.0001, '1.0E-4'],
      [9999999, '9999999.0'],
      [1e7, '1.0E7'],
      [12345678.9, '1.23456789E7'],
      [-2.5e-7, '-2.5E-7'],
      [1e21, '1.0E21'],
    ];
    for (const [value, text] of cases) assert.equal(javaDouble(value), text, String(value));
  });

  test('jacksonString escapes as Jackson: short escapes, upper-case \\u00XX, each surrogate half', () => {
    assert.equal(
      jacksonString('a"b\\c\n\t\u0007\u001f/é🎉'),
      '"a\\"b\\\\c\\n\\t\\u0007\\u001F/é\\uD83C\\uDF89"',
    );
  });

  test('zonedTimestamp converts the column to UTC with six fraction digits', () => {
    const at = (createdAt: string) => zonedTimestamp(outboxEvent({ columns: { createdAt, headers: '{}' } }));
    assert.equal(at('2026-11-30 12:00:01.25+00'), '2026-11-30T12:00:01.250000Z');
    assert.equal(at('2026-11-30 12:00:01+05:30'), '2026-11-30T06:30:01.000000Z');
    assert.equal(at('2026-01-01 00:30:00.123456-01'), '2026-01-01T01:30:00.123456Z');
    // Without the column's text (an event built by hand), the ISO form's milliseconds.
    assert.equal(
      zonedTimestamp(outboxEvent({ createdAt: '2026-01-01T00:00:00.123Z' })),
      '2026-01-01T00:00:00.123000Z',
    );
  });

  test('keeps the JSON string where an expanded payload could not be built', () => {
    const format = createDebeziumFormat(
      debeziumOptionsSchema.parse({ expandJsonPayload: true }),
      'public.outbox',
    );
    const json = '{"schema":{"type":"string","optional":false,"name":"io.debezium.data.Json","version":1}';
    // Debezium's task stops for good on these three; the relay keeps the string instead.
    for (const payload of ['[1, 2]', '{"big": 100000000000000000000000}', '{"a": [{"x": 1}, {"x": "one"}]}'])
      assert.ok(String(format.encode(outboxEvent({ payload })).body).startsWith(json), payload);
  });

  test('merges the fields of an array of objects in the order they appear', () => {
    const format = createDebeziumFormat(
      debeziumOptionsSchema.parse({ expandJsonPayload: true }),
      'public.outbox',
    );
    const body = format.encode(outboxEvent({ payload: '{"a": [{"x": 1}, {"y": true}]}' })).body;
    assert.equal(
      body,
      '{"schema":{"type":"struct","fields":[{"type":"array","items":{"type":"struct","fields":[{"type":"int32","optional":true,"field":"x"},{"type":"boolean","optional":true,"field":"y"}],"optional":true,"name":"payload.a"},"optional":true,"field":"a"}],"optional":true,"name":"payload"},"payload":{"a":[{"x":1,"y":null},{"x":null,"y":true}]}}',
    );
  });
});
