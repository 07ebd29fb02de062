// The CloudEvents formats (CloudEvents 1.0): `cloudevents` writes binary-mode messages (the payload
// as the body, the attributes beside the row's headers, each sink naming them per its protocol
// binding) and `cloudevents-structured` writes the whole event as the body, in the JSON event
// format (application/cloudevents+json). The attributes: specversion 1.0, id = the event id, source
// (configurable), type = the event type, subject = the aggregate id, time = created_at (RFC 3339),
// datacontenttype application/json. The key stays the aggregate id; the row's headers travel as
// the message's headers in both modes.
import * as z from 'zod';
import { payloadBody, payloadBytesBound } from '../wal/event.js';
import type { OutboxEvent } from '../wal/event.js';
import { defineFormat } from './format.js';
import type { EncodedMessage, FormatSettings, MessageFormat } from './format.js';

export const SPEC_VERSION = '1.0';
export const DATA_CONTENT_TYPE = 'application/json';
export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json';
/** The longest attribute prefix of a protocol binding (AMQP's `cloudEvents_`), for size bounds. */
const LONGEST_PREFIX = 'cloudEvents_'.length;
/** `content-type` (Kafka's header) with the longer of the two content types. */
const CONTENT_TYPE_HEADER = 'content-type'.length + STRUCTURED_CONTENT_TYPE.length;

export interface CloudEventsOptions {
  /** The `source` attribute; default OUTBOX_CLOUDEVENTS_SOURCE, else outbox-relay/<database>/<table>. */
  readonly source?: string;
}

// RFC 3986's characters (a character check, not a parser): what CloudEvents' URI-reference allows.
const URI_REFERENCE = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;
export const SOURCE_EXPECTED =
  'expected a URI reference (RFC 3986 characters, no spaces), e.g. /orders or https://example.com/orders';

/** A CloudEvents `source` value, as OUTBOX_CLOUDEVENTS_SOURCE and the routes file check it. */
export const sourceSchema = z.string({ error: SOURCE_EXPECTED }).regex(URI_REFERENCE, SOURCE_EXPECTED);

const options = {
  synopsis: 'source',
  schema: z.strictObject({ source: sourceSchema.optional() }),
};

/** The source of events from settings and a route's options: the option, the variable, the default. */
export function cloudEventsSource(settings: FormatSettings, routeOptions?: CloudEventsOptions): string {
  return (
    routeOptions?.source ??
    settings.cloudEventsSource ??
    `outbox-relay/${encodeURIComponent(settings.database)}/${settings.table}`
  );
}

/** The attributes of an event other than datacontenttype, in the order they are written. */
export function cloudEventAttributes(event: OutboxEvent, source: string): Record<string, string> {
  const attributes: Record<string, string> = {
    specversion: SPEC_VERSION,
    id: event.id,
    source,
    type: event.eventType,
    subject: event.aggregateId,
  };
  const time = rfc3339(event.createdAt);
  if (time !== undefined) attributes['time'] = time;
  return attributes;
}

// created_at arrives as ISO 8601 in UTC (wal/decode.ts), which is RFC 3339; anything else Date can
// read is rewritten, and an unreadable one leaves `time` out (it is optional).
const RFC_3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
function rfc3339(createdAt: string): string | undefined {
  if (RFC_3339.test(createdAt)) return createdAt;
  const ms = Date.parse(createdAt);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** The message's own properties: AMQP's message-id, type and timestamp stay as `native` sets them. */
function properties(event: OutboxEvent) {
  const createdAtMs = Date.parse(event.createdAt);
  return {
    key: event.aggregateId,
    id: event.id,
    type: event.eventType,
    timestampSeconds: Number.isNaN(createdAtMs) ? undefined : Math.floor(createdAtMs / 1000),
  };
}

/** UTF-16 units of the key and the row's headers: a third of their UTF-8 bound. */
function rowUnits(event: OutboxEvent): number {
  let units = event.aggregateId.length;
  const own = event.headers;
  for (const name in own) units += name.length + own[name]!.length;
  return units;
}

/** UTF-16 units of the attributes' values (`time` is created_at or a 24-unit ISO string). */
function attributeUnits(event: OutboxEvent, source: string): number {
  const time = Math.max(event.createdAt.length, 24);
  return (
    SPEC_VERSION.length +
    event.id.length +
    source.length +
    event.eventType.length +
    event.aggregateId.length +
    time
  );
}

function binaryFormat(source: string): MessageFormat {
  return {
    name: 'cloudevents',
    encode: (event: OutboxEvent): EncodedMessage => ({
      ...properties(event),
      body: payloadBody(event),
      headers: event.headers,
      contentType: DATA_CONTENT_TYPE,
      cloudEvent: { mode: 'binary', attributes: cloudEventAttributes(event, source) },
    }),
    body: payloadBody,
    // Six attribute names (each behind the longest prefix) and the content-type header.
    sizeBound: (event: OutboxEvent) =>
      payloadBytesBound(event) +
      3 * (rowUnits(event) + attributeUnits(event, source) + 6 * (LONGEST_PREFIX + 11) + CONTENT_TYPE_HEADER),
  };
}

/** The JSON event format: the attributes, datacontenttype, then `data`, the payload as stored. */
export function structuredBody(event: OutboxEvent, source: string): string {
  const attributes = cloudEventAttributes(event, source);
  let json = '{';
  for (const name in attributes) json += `${JSON.stringify(name)}:${JSON.stringify(attributes[name])},`;
  // The payload is PostgreSQL's text of a jsonb value: JSON already, spliced in unchanged.
  return `${json}"datacontenttype":${JSON.stringify(DATA_CONTENT_TYPE)},"data":${event.payload}}`;
}

function structuredFormat(source: string): MessageFormat {
  return {
    name: 'cloudevents-structured',
    encode: (event: OutboxEvent): EncodedMessage => ({
      ...properties(event),
      body: structuredBody(event, source),
      headers: event.headers,
      contentType: STRUCTURED_CONTENT_TYPE,
      cloudEvent: { mode: 'structured' },
    }),
    body: (event: OutboxEvent) => structuredBody(event, source),
    // JSON escapes a UTF-16 unit into at most six bytes (\u001f); names and punctuation are below 150.
    sizeBound: (event: OutboxEvent) =>
      payloadBytesBound(event) +
      3 * (rowUnits(event) + CONTENT_TYPE_HEADER) +
      6 * attributeUnits(event, source) +
      150,
  };
}

export const cloudevents = defineFormat({
  name: 'cloudevents',
  options,
  create: (settings: FormatSettings, route: CloudEventsOptions | undefined) =>
    binaryFormat(cloudEventsSource(settings, route)),
});

export const cloudeventsStructured = defineFormat({
  name: 'cloudevents-structured',
  options,
  create: (settings: FormatSettings, route: CloudEventsOptions | undefined) =>
    structuredFormat(cloudEventsSource(settings, route)),
});
