// The `debezium` format: the bytes Debezium's Outbox Event Router writes for outbox-relay's table
// when Kafka Connect runs it with the JsonConverter (schemas enabled), so consumers of a Debezium
// outbox keep working when the relay takes over. Key: the aggregate id in the converter's envelope.
// Value: the payload column (a JSON string, or expanded into a struct), alone or in an envelope with
// the columns placed there. Headers: `id`, then the columns placed in headers. The topic is the
// route's (Debezium's default is `outbox.event.${aggregateType}`). Checked byte for byte against
// real Debezium: test/unit/debezium-format.test.ts (captured fixtures), test/compat/debezium.test.ts.
import * as z from 'zod';
import type { OutboxEvent } from '../wal/event.js';
import { envelope, jacksonString, schemaJson } from './connect-json.js';
import type { ConnectSchema } from './connect-json.js';
import { expandPayload } from './debezium-expand.js';
import { defineFormat, encodedBytes } from './format.js';
import type { EncodedMessage, FormatSettings, MessageFormat } from './format.js';

// The schemas Debezium's PostgreSQL connector gives our columns (migrations/): uuid, text, jsonb,
// timestamptz, all NOT NULL; a column with a DEFAULT gets the type's zero value (or the literal) as
// the schema's default.
const TEXT: ConnectSchema = { type: 'string', optional: false };
const JSON_TEXT: ConnectSchema = {
  type: 'string',
  optional: false,
  name: 'io.debezium.data.Json',
  version: 1,
};

interface Column {
  readonly schema: ConnectSchema;
  /** The column's value as Debezium carries it (a string for every outbox column). */
  readonly value: (event: OutboxEvent) => string;
}

const COLUMNS = {
  id: {
    schema: {
      ...TEXT,
      name: 'io.debezium.data.Uuid',
      version: 1,
      default: '00000000-0000-0000-0000-000000000000',
    },
    value: (event) => event.id,
  },
  aggregate_type: { schema: TEXT, value: (event) => event.aggregateType },
  aggregate_id: { schema: TEXT, value: (event) => event.aggregateId },
  event_type: { schema: TEXT, value: (event) => event.eventType },
  payload: { schema: JSON_TEXT, value: (event) => event.payload },
  headers: { schema: { ...JSON_TEXT, default: '{}' }, value: (event) => headersText(event) },
  created_at: {
    schema: {
      ...TEXT,
      name: 'io.debezium.time.ZonedTimestamp',
      version: 1,
      default: '1970-01-01T00:00:00.000000Z',
    },
    value: (event) => zonedTimestamp(event),
  },
} as const satisfies Record<string, Column>;

type ColumnName = keyof typeof COLUMNS;
const COLUMN_NAMES = Object.keys(COLUMNS) as ColumnName[];
const TEXT_COLUMNS = ['aggregate_type', 'aggregate_id', 'event_type', 'id'] as const;

export interface Placement {
  readonly column: ColumnName;
  readonly placement: 'header' | 'envelope';
  readonly alias: string;
}

/** One entry of table.fields.additional.placement, `column:placement[:alias]`; throws saying what is wrong. */
function parsePlacement(entry: string): Placement {
  const [column = '', placement = '', alias, ...rest] = entry.trim().split(':');
  if (!(COLUMN_NAMES as string[]).includes(column))
    throw new Error(
      `${JSON.stringify(column)} is not an outbox column (expected one of ${COLUMN_NAMES.join(', ')})`,
    );
  if (placement === 'partition')
    throw new Error(`${entry}: placement partition is not supported (the relay partitions by the key)`);
  if (placement !== 'header' && placement !== 'envelope')
    throw new Error(`${entry}: expected column:header or column:envelope, optionally :alias`);
  if (rest.length > 0 || alias === '') throw new Error(`${entry}: expected column:placement[:alias]`);
  return { column: column as ColumnName, placement, alias: alias ?? column };
}

/** The routes-file options of the format, named after the router's own (docs/migrating-from-debezium.md). */
export const debeziumOptionsSchema = z
  .strictObject({
    /** table.expand.json.payload */
    expandJsonPayload: z.boolean({ error: 'expected true or false' }).default(false),
    /** table.fields.additional.placement, in the router's syntax: `column:header|envelope[:alias],...` */
    additionalPlacement: z
      .string({ error: 'expected column:placement[:alias],... as a string' })
      .default('')
      .transform((text, ctx) => {
        try {
          return text.trim() === '' ? [] : text.split(',').map(parsePlacement);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message });
          return z.NEVER;
        }
      }),
    /** route.by.field: the column whose value names the envelope's schema (and Debezium's topic). */
    routeByField: z
      .enum(TEXT_COLUMNS, { error: `expected one of ${TEXT_COLUMNS.join(', ')}` })
      .default('aggregate_type'),
    /** The connector's topic.prefix: with the table, it names the envelope's schema. */
    topicPrefix: z.string({ error: "expected the connector's topic.prefix as a string" }).min(1).optional(),
  })
  .superRefine((options, ctx) => {
    if (
      options.topicPrefix === undefined &&
      options.additionalPlacement.some((each) => each.placement === 'envelope')
    )
      ctx.addIssue({
        code: 'custom',
        path: ['topicPrefix'],
        message:
          "required with an envelope placement: the connector's topic.prefix, which names the envelope's schema (<topic.prefix>.<schema>.<table>.<routed value>.Value)",
      });
  });

export type DebeziumOptions = z.output<typeof debeziumOptionsSchema>;

/** Debezium's Outbox Event Router output for events of `table` (`public.outbox`), with the given options. */
export function createDebeziumFormat(options: DebeziumOptions, table: string): MessageFormat {
  const inEnvelope = options.additionalPlacement.filter((each) => each.placement === 'envelope');
  const inHeaders = options.additionalPlacement.filter((each) => each.placement === 'header');
  const routedBy = COLUMNS[options.routeByField];

  function value(event: OutboxEvent): string {
    const expanded = options.expandJsonPayload ? expandPayload(event.payload, 'payload') : undefined;
    const payloadSchema = expanded?.schema ?? JSON_TEXT;
    const payloadJson = expanded?.json ?? jacksonString(event.payload);
    if (inEnvelope.length === 0) return envelope(payloadSchema, payloadJson);
    const schema: ConnectSchema = {
      type: 'struct',
      fields: [
        { name: 'payload', schema: payloadSchema },
        ...inEnvelope.map((each) => ({ name: each.alias, schema: COLUMNS[each.column].schema })),
      ],
      optional: false,
      name: `${options.topicPrefix!}.${table}.${routedBy.value(event)}.Value`,
    };
    const members = inEnvelope.map(
      (each) => `${jacksonString(each.alias)}:${jacksonString(COLUMNS[each.column].value(event))}`,
    );
    return `{"schema":${schemaJson(schema)},"payload":{"payload":${[payloadJson, ...members].join(',')}}}`;
  }

  function build(event: OutboxEvent): EncodedMessage {
    const headers: Record<string, string> = { id: event.id };
    for (const each of inHeaders) headers[each.alias] = COLUMNS[each.column].value(event);
    const createdAtMs = Date.parse(event.createdAt);
    return {
      key: envelope(TEXT, jacksonString(event.aggregateId)),
      body: value(event),
      headers,
      id: event.id,
      type: event.eventType,
      contentType: 'application/json',
      timestampSeconds: Number.isNaN(createdAtMs) ? undefined : Math.floor(createdAtMs / 1000),
    };
  }

  // A sink asks for the size, then for the message: the message is built once per event and kept
  // with it. A cheap bound of an expanded payload's schema would be far above its real size.
  const built = new WeakMap<OutboxEvent, EncodedMessage>();
  function encode(event: OutboxEvent): EncodedMessage {
    let message = built.get(event);
    if (message === undefined) built.set(event, (message = build(event)));
    return message;
  }

  return {
    name: 'debezium',
    encode,
    body: (event) => encode(event).body,
    sizeBound: (event) => encodedBytes(encode(event)),
    readsColumnText: true,
  };
}

/** `format: debezium`, or `format: { debezium: { expandJsonPayload, additionalPlacement, ... } }`. */
export const debezium = defineFormat({
  name: 'debezium',
  options: {
    synopsis: 'expandJsonPayload, additionalPlacement, routeByField, topicPrefix',
    schema: debeziumOptionsSchema,
  },
  create: (settings: FormatSettings, options: DebeziumOptions | undefined) =>
    createDebeziumFormat(options ?? debeziumOptionsSchema.parse({}), settings.table),
});

/** The headers column's jsonb text; rebuilt in jsonb's layout for an event not read from a row. */
function headersText(event: OutboxEvent): string {
  if (event.columns) return event.columns.headers;
  const members = Object.entries(event.headers).map(
    ([name, value]) => `${JSON.stringify(name)}: ${JSON.stringify(value)}`,
  );
  return `{${members.join(', ')}}`;
}

// PostgreSQL's timestamptz text, e.g. "2026-11-30 12:00:01.25+00" or "...+05:30".
const TIMESTAMPTZ =
  /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-])(\d{2})(?::(\d{2}))?$/;

/** io.debezium.time.ZonedTimestamp: UTC, always six fraction digits ("2026-11-30T12:00:01.250000Z"). */
export function zonedTimestamp(event: OutboxEvent): string {
  const match = event.columns && TIMESTAMPTZ.exec(event.columns.createdAt);
  if (!match) {
    // No column text (an event built by hand): the ISO form's milliseconds, padded.
    const iso = /^(.{19})(?:\.(\d{1,6}))?Z$/.exec(event.createdAt);
    return iso ? `${iso[1]!}.${(iso[2] ?? '').padEnd(6, '0')}Z` : event.createdAt;
  }
  const [, year, month, day, hour, minute, second, fraction = '', sign, offsetHours, offsetMinutes = '00'] =
    match as unknown as string[];
  const offsetMs = (sign === '-' ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000;
  const utcMs =
    Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)) -
    offsetMs;
  return `${new Date(utcMs).toISOString().slice(0, 19)}.${fraction.padEnd(6, '0')}Z`;
}
