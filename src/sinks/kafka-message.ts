// An encoded message as a kafkajs record: the key, the body as the value, the headers. A CloudEvent
// follows the CloudEvents Kafka protocol binding: in binary mode each attribute is a `ce_<name>`
// header, and in both modes the content type is a `content-type` header. The row's headers in the
// binding's namespace (`ce_*`, `content-type`) are left out, so a row cannot forge an attribute.
import type { Message, TopicMessages } from 'kafkajs';
import { encodedBytes } from '../formats/format.js';
import type { EncodedMessage } from '../formats/format.js';
import type { KafkaDestination } from './kafka-destination.js';
import { UndeliverableError } from './sink.js';
import type { FormattedDestination, SinkMessage } from './sink.js';

export const KAFKA_ATTRIBUTE_PREFIX = 'ce_';
export const KAFKA_CONTENT_TYPE = 'content-type';

export function kafkaRecord(message: EncodedMessage): Message {
  return { key: message.key, value: message.body, headers: kafkaHeaders(message) };
}

/** The record's headers: the format's as they are, or a CloudEvent's per the binding. */
export function kafkaHeaders(message: EncodedMessage): Readonly<Record<string, string>> {
  const { cloudEvent, headers } = message;
  if (!cloudEvent) return headers;
  const written: Record<string, string> = {};
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (!lower.startsWith(KAFKA_ATTRIBUTE_PREFIX) && lower !== KAFKA_CONTENT_TYPE)
      written[name] = headers[name]!;
  }
  if (cloudEvent.mode === 'binary') {
    const { attributes } = cloudEvent;
    for (const name in attributes) written[KAFKA_ATTRIBUTE_PREFIX + name] = attributes[name]!;
  }
  written[KAFKA_CONTENT_TYPE] = message.contentType;
  return written;
}

/** The UTF-8 bytes of the record's key, value and headers (names and values). */
export function kafkaRecordBytes(message: EncodedMessage): number {
  return encodedBytes({ ...message, headers: kafkaHeaders(message) });
}

/** The messages as kafkajs records, grouped by topic (each topic's in the order given). */
export function recordsByTopic(messages: readonly SinkMessage[]): TopicMessages[] {
  const topics = new Map<string, Message[]>();
  for (const { event, destination } of messages) {
    const { topic } = destination as KafkaDestination & FormattedDestination;
    let records = topics.get(topic);
    if (!records) topics.set(topic, (records = []));
    records.push(kafkaRecord(destination.format.encode(event, destination)));
  }
  return [...topics].map(([topic, records]) => ({ topic, messages: records }));
}

/**
 * The refusal of a message whose record would exceed `maxMessageBytes` (the route's format bounds
 * key + value + headers without building them; only a message near the limit is encoded to
 * measure it), else undefined. Both Kafka sinks start a publish with this.
 */
export function kafkaSizeRefusal(
  message: SinkMessage,
  maxMessageBytes: number,
): UndeliverableError | undefined {
  if (message.destination.sink !== 'kafka')
    throw new Error(`kafka sink got a ${message.destination.sink} destination`);
  const { event } = message;
  const destination = message.destination as KafkaDestination & FormattedDestination;
  const { format } = destination;
  if (format.sizeBound(event, destination) <= maxMessageBytes) return undefined;
  const size = kafkaRecordBytes(format.encode(event, destination));
  if (size <= maxMessageBytes) return undefined;
  return new UndeliverableError(
    `message of ${size} bytes exceeds the ${maxMessageBytes}-byte limit for topic ${destination.topic}`,
    'too_large',
  );
}
