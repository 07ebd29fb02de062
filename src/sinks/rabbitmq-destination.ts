// What the RabbitMQ sink is given: the destinations it publishes to and its options. A leaf module,
// so that the descriptor (rabbitmq.ts) and the sink's own files (loaded only when a route needs
// RabbitMQ) share these types without importing each other.
import type { Logger } from 'pino';
import type { TlsMaterial } from '../tls.js';

export const EXCHANGE_TYPES = ['direct', 'topic', 'fanout', 'headers'] as const;
export type ExchangeType = (typeof EXCHANGE_TYPES)[number];

export interface RabbitMqDestination {
  readonly sink: 'rabbitmq';
  readonly exchange: string;
  readonly routingKey: string;
  /** Declare the exchange (durable, of this type) before publishing; undefined: it must exist. */
  readonly assertExchange: ExchangeType | undefined;
  readonly label: string;
}

export interface RabbitMqSinkOptions {
  /** amqp:// or amqps:// URL; its password is never logged. */
  readonly url: string;
  /** Client certificate and CA for amqps://. */
  readonly tls?: TlsMaterial;
  /** Messages sent and not yet confirmed by the broker, at most. */
  readonly maxUnconfirmed: number;
  /** Largest body sent at all; larger ones are dead-lettered (the broker would close the channel). */
  readonly maxMessageBytes: number;
  readonly logger: Logger;
  readonly onPublishError?: (error: unknown) => void;
  readonly onReadyChange?: (ready: boolean) => void;
}
