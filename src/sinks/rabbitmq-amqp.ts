// RabbitMQ details the sink (rabbitmq-sink.ts) builds on: the AMQP properties of a message and
// connection housekeeping. The broker's refusals are decided in rabbitmq-refusals.ts.
import type { ChannelModel, Options } from 'amqplib';
import type { EncodedMessage } from '../formats/format.js';
import { destroySocket } from './amqplib-socket.js';

const CLOSE_TIMEOUT_MS = 2_000;

/** Persistent, mandatory, and the format's properties and headers. */
export function publishProperties(message: EncodedMessage): Options.Publish {
  const properties: Options.Publish = {
    persistent: true,
    mandatory: true,
    messageId: message.id,
    type: message.type,
    contentType: message.contentType,
    headers: amqpHeaders(message),
  };
  // Absent rather than undefined (the property list stays as it was); set, not spread, per message.
  const timestamp = message.timestampSeconds;
  if (timestamp !== undefined) properties.timestamp = timestamp;
  return properties;
}

/**
 * The CloudEvents AMQP binding's prefix for attributes in the application properties (RabbitMQ's
 * headers). The binding allows `cloudEvents:` too but prefers `_`, which JMS clients can read.
 */
export const AMQP_ATTRIBUTE_PREFIX = 'cloudEvents_';
const RESERVED_PREFIXES = ['cloudevents_', 'cloudevents:'];

/**
 * The message's headers: the format's as they are, or a CloudEvent's per the AMQP binding (binary
 * mode: each attribute a `cloudEvents_<name>` header; datacontenttype is the content-type property).
 * The row's headers in the binding's namespace are left out, so a row cannot forge an attribute.
 */
export function amqpHeaders(message: EncodedMessage): Readonly<Record<string, string>> {
  const { cloudEvent, headers } = message;
  if (!cloudEvent) return headers;
  const written: Record<string, string> = {};
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (!RESERVED_PREFIXES.some((prefix) => lower.startsWith(prefix))) written[name] = headers[name]!;
  }
  if (cloudEvent.mode === 'binary') {
    const { attributes } = cloudEvent;
    for (const name in attributes) written[AMQP_ATTRIBUTE_PREFIX + name] = attributes[name]!;
  }
  return written;
}

/** The broker's address without credentials, for logs. */
export function describeBroker(url: string): string {
  try {
    const { protocol, hostname, port, pathname } = new URL(url);
    return `${protocol}//${hostname}${port ? `:${port}` : ''}${pathname}`;
  } catch {
    return 'an unparsable RabbitMQ URL';
  }
}

/** Closes a connection, giving up on a broker that does not answer. */
export async function closeConnection(connection: ChannelModel): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<boolean>(
    (resolve) => (timer = setTimeout(() => resolve(true), CLOSE_TIMEOUT_MS)),
  );
  const closed = connection.close().then(
    () => false,
    () => false,
  );
  if (await Promise.race([closed, gaveUp])) destroySocket(connection);
  clearTimeout(timer);
}
