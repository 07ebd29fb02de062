// The `native` format, the relay's only one so far: the row's payload as the body, the aggregate id
// as the key, the row's headers plus the event's own fields as headers (ours win on a name clash).
import type { OutboxEvent } from '../wal/event.js';
import { defineFormat } from './format.js';
import type { EncodedMessage, MessageFormat } from './format.js';

/**
 * The headers every message carries after the row's own, in this order. encode() and sizeBound()
 * both walk this table, so the size bound cannot forget a header.
 */
const EVENT_HEADERS: readonly (readonly [string, (event: OutboxEvent) => string])[] = [
  ['id', (event) => event.id],
  ['aggregate_type', (event) => event.aggregateType],
  ['aggregate_id', (event) => event.aggregateId],
  ['event_type', (event) => event.eventType],
  ['created_at', (event) => event.createdAt],
];

/** The headers of a native message: the row's, then the event's own (which win on a name clash). */
export function messageHeaders(event: OutboxEvent): Record<string, string> {
  // Copied key by key rather than with object spread, which V8 runs about fifty times slower on
  // these small objects: this runs once per message (see bench/README.md, the profile).
  const headers: Record<string, string> = {};
  const own = event.headers;
  for (const key in own) headers[key] = own[key]!;
  for (const [name, value] of EVENT_HEADERS) headers[name] = value(event);
  return headers;
}

export const nativeFormat: MessageFormat = {
  name: 'native',
  encode(event: OutboxEvent): EncodedMessage {
    const createdAtMs = Date.parse(event.createdAt);
    return {
      key: event.aggregateId,
      body: event.payload,
      headers: messageHeaders(event),
      id: event.id,
      type: event.eventType,
      contentType: 'application/json',
      timestampSeconds: Number.isNaN(createdAtMs) ? undefined : Math.floor(createdAtMs / 1000),
    };
  },
  body: (event: OutboxEvent) => event.payload,
  // A UTF-8 byte sequence is at most three UTF-16 units per unit; a row header that the event's own
  // replaces is counted twice, which a bound may do.
  sizeBound(event: OutboxEvent): number {
    let units = event.aggregateId.length + event.payload.length;
    for (const [name, value] of EVENT_HEADERS) units += name.length + value(event).length;
    const own = event.headers;
    for (const name in own) units += name.length + own[name]!.length;
    return units * 3;
  },
};

/** `native` takes no options and no settings: every route naming it shares one instance. */
export const native = defineFormat({
  name: 'native',
  create: () => nativeFormat,
});
