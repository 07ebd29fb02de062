// What a message format produces from an event: the broker-neutral parts of a message. Each sink
// maps them onto its protocol (a Kafka record's key, value and headers; an AMQP body, properties
// and headers), so the bytes an event becomes are decided here, once, for every broker.
import type { OutboxEvent } from '../wal/event.js';

export interface EncodedMessage {
  /** The partitioning key (Kafka's record key): events of one aggregate share it. */
  readonly key: string;
  /** The body, sent as UTF-8. */
  readonly body: string;
  /** Sent as the message's headers, in this order. */
  readonly headers: Readonly<Record<string, string>>;
  /** The message id (AMQP message-id). */
  readonly id: string;
  /** The message type (AMQP type). */
  readonly type: string;
  /** The body's media type (AMQP content-type). */
  readonly contentType: string;
  /** When the event was created, in whole seconds since the epoch (AMQP timestamp), if known. */
  readonly timestampSeconds: number | undefined;
}

export interface MessageFormat {
  readonly name: string;
  encode(event: OutboxEvent): EncodedMessage;
  /** encode(event).body alone, for a size check before the message is built. */
  body(event: OutboxEvent): string;
  /**
   * An upper bound of the UTF-8 bytes of key, body and headers (names and values) that encode()
   * writes, computed from the event without building the message: a sink that only needs to know
   * whether a message fits a limit calls encodedBytes() only when this bound does not fit.
   */
  sizeBound(event: OutboxEvent): number;
}

/** The UTF-8 bytes of an encoded message's key, body and headers (names and values). */
export function encodedBytes(message: EncodedMessage): number {
  let size = Buffer.byteLength(message.key) + Buffer.byteLength(message.body);
  const headers = message.headers;
  for (const name in headers) size += Buffer.byteLength(name) + Buffer.byteLength(headers[name]!);
  return size;
}
