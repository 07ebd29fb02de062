// The `native` format, the contract's own: the row's payload as the body, the aggregate id
// as the key, the row's headers plus the event's own fields as headers (ours win on a name clash).
import { payloadBody, payloadBytesBound } from '../wal/event.js';
import { lastOf } from '../wal/repeated-text.js';
import type { OutboxEvent } from '../wal/event.js';
import { defineFormat } from './format.js';
import type { EncodedMessage, MessageFormat } from './format.js';

/** The headers of a native message: the row's, then the event's own (which win on a name clash). */
export function messageHeaders(event: OutboxEvent): Record<string, string> {
  // Copied key by key and written out one by one rather than spread or looped over a table, which V8
  // runs several times slower on these small objects: this runs once per message.
  const headers: Record<string, string> = {};
  const own = event.headers;
  for (const key in own) headers[key] = own[key]!;
  headers.id = event.id;
  headers.aggregate_type = event.aggregateType;
  headers.aggregate_id = event.aggregateId;
  headers.event_type = event.eventType;
  headers.created_at = event.createdAt;
  return headers;
}

// The names of the headers messageHeaders() adds, in UTF-16 units (formats.test.ts checks the bound).
const EVENT_HEADER_NAMES = 'id aggregate_type aggregate_id event_type created_at'.length;

/**
 * A native message. The AMQP timestamp needs a date parse that a Kafka record never uses, so it is
 * computed only when a sink reads it.
 */
class NativeMessage implements EncodedMessage {
  readonly key: string;
  readonly body: string | Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly id: string;
  readonly type: string;
  readonly contentType = 'application/json';

  private readonly createdAt: string;

  constructor(event: OutboxEvent) {
    this.createdAt = event.createdAt;
    this.key = event.aggregateId;
    this.body = payloadBody(event);
    this.headers = messageHeaders(event);
    this.id = event.id;
    this.type = event.eventType;
  }

  get timestampSeconds(): number | undefined {
    return secondsOf(this.createdAt);
  }
}

/** created_at in whole seconds; the last answer is kept (a transaction's rows share created_at). */
const secondsOf = lastOf((createdAt: string): number | undefined => {
  const createdAtMs = Date.parse(createdAt);
  return Number.isNaN(createdAtMs) ? undefined : Math.floor(createdAtMs / 1000);
});

export const nativeFormat: MessageFormat = {
  name: 'native',
  encode: (event: OutboxEvent): EncodedMessage => new NativeMessage(event),
  body: payloadBody,
  // A UTF-8 byte sequence is at most three UTF-16 units per unit; a row header that the event's own
  // replaces is counted twice, which a bound may do.
  sizeBound(event: OutboxEvent): number {
    let units =
      event.aggregateId.length +
      EVENT_HEADER_NAMES +
      event.id.length +
      event.aggregateType.length +
      event.aggregateId.length +
      event.eventType.length +
      event.createdAt.length;
    const own = event.headers;
    for (const name in own) units += name.length + own[name]!.length;
    return units * 3 + payloadBytesBound(event);
  },
};

/** `native` takes no options and no settings: every route naming it shares one instance. */
export const native = defineFormat({
  name: 'native',
  create: () => nativeFormat,
});
