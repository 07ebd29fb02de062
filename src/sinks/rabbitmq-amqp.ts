// RabbitMQ details the sink (rabbitmq-sink.ts) builds on: the AMQP properties of a message, the
// broker's refusals as UndeliverableErrors, and connection housekeeping.
import type { ChannelModel, Options } from 'amqplib';
import type { EncodedMessage } from '../formats/format.js';
import type { ExchangeType } from './rabbitmq.js';
import { UndeliverableError } from './sink.js';
import { destroySocket } from './amqplib-socket.js';
import { errorMessage } from '../errors.js';

const CLOSE_TIMEOUT_MS = 2_000;
// RabbitMQ's answer when a body exceeds its max_message_size (the channel is closed).
const BROKER_SIZE_LIMIT = /message size \d+ is larger than configured max size (\d+)/;

/** The broker's max_message_size, when `error` is its refusal of a larger body. */
export function brokerSizeLimit(error: unknown): number | undefined {
  const match = BROKER_SIZE_LIMIT.exec(error instanceof Error ? error.message : '');
  return match ? Number(match[1]) : undefined;
}

/** Why a declaration or check of an exchange failed, when that is the exchange's fault. */
export function exchangeRefusal(
  error: unknown,
  exchange: string,
  assertExchange: ExchangeType | undefined,
): UndeliverableError | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  const detail = errorMessage(error);
  switch (code) {
    case 404:
      return new UndeliverableError(
        `exchange "${exchange}" does not exist: declare it or set assert: true on its route`,
        'exchange_not_found',
        { cause: error },
      );
    case 406:
      return new UndeliverableError(
        `exchange "${exchange}" exists with other properties than a durable ${assertExchange ?? ''} exchange: ${detail}`,
        'exchange_mismatch',
        { cause: error },
      );
    case 403:
      return new UndeliverableError(`access to exchange "${exchange}" refused: ${detail}`, 'access_refused', {
        cause: error,
      });
    default:
      return undefined;
  }
}

/** Persistent, mandatory, and the format's properties and headers. */
export function publishProperties(message: EncodedMessage): Options.Publish {
  return {
    persistent: true,
    mandatory: true,
    messageId: message.id,
    type: message.type,
    contentType: message.contentType,
    ...(message.timestampSeconds === undefined ? {} : { timestamp: message.timestampSeconds }),
    headers: amqpHeaders(message),
  };
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

export function unroutable(exchange: string, routingKey: string): UndeliverableError {
  return new UndeliverableError(
    `unroutable: no queue bound to exchange "${exchange}" for routing key "${routingKey}"`,
    'unroutable',
  );
}

export function tooLarge(size: number, limit: number, exchange: string): UndeliverableError {
  return new UndeliverableError(
    `message of ${size} bytes exceeds the ${limit}-byte limit for exchange "${exchange}"`,
    'too_large',
  );
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
