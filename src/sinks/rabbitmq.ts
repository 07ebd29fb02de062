// RabbitMQ as a sink: its settings (RABBITMQ_*), its routes-file destination
// (`rabbitmq: { exchange, routingKey, assert, type }`) and its factory. The sink itself
// (rabbitmq-sink.ts) and amqplib load only when a route needs RabbitMQ.
import * as z from 'zod';
import { ConfigError, existingFile, integer } from '../config-fields.js';
import type { EnvSettings, EnvValues, TlsFiles } from '../config-fields.js';
import { compileTemplate, metricLabel, templateString } from '../routing/template.js';
import { readTlsFiles } from '../tls.js';
import { EXCHANGE_TYPES } from './rabbitmq-destination.js';
import type { ExchangeType, RabbitMqDestination } from './rabbitmq-destination.js';
import { defineSink } from './sink.js';

export interface RabbitMqSettings {
  readonly url: string;
  /** Messages published to RabbitMQ and not yet confirmed, at most. */
  readonly maxUnconfirmed: number;
  /** Largest RabbitMQ message body sent; larger ones are dead-lettered (keep <= the broker's max_message_size). */
  readonly maxMessageBytes: number;
  /** Client certificate and CA files for amqps:// (RABBITMQ_URL must be amqps:// when set). */
  readonly tls: TlsFiles | undefined;
}

const env = {
  RABBITMQ_URL: {
    doc: '`amqp://` or `amqps://` URL (user, password, host, port, vhost); required when a route publishes to RabbitMQ',
    schema: z
      .string()
      .regex(/^amqps?:\/\//, 'expected an amqp:// or amqps:// URL')
      .optional(),
  },
  RABBITMQ_MAX_UNCONFIRMED: {
    doc: 'messages published on the confirm channel and not yet confirmed, at most (pipelining depth)',
    schema: integer(1, 1_000_000).default(1_000),
  },
  RABBITMQ_MAX_MESSAGE_BYTES: {
    doc: "a larger body is dead-lettered instead of sent (RabbitMQ closes the channel over its `max_message_size`); keep it at or below the broker's setting",
    // RabbitMQ's own ceiling for max_message_size is 512 MiB; its default is 128 MiB.
    schema: integer(1, 536_870_912).default(134_217_728),
  },
  RABBITMQ_SSL_CA_FILE: {
    doc: 'CA file for RabbitMQ; requires an `amqps://` URL',
    schema: existingFile,
  },
  RABBITMQ_SSL_CERT_FILE: {
    doc: 'client certificate file; requires `RABBITMQ_SSL_KEY_FILE`',
    schema: existingFile,
  },
  RABBITMQ_SSL_KEY_FILE: {
    doc: 'client key file; requires `RABBITMQ_SSL_CERT_FILE`',
    schema: existingFile,
  },
} satisfies EnvSettings;

type Env = EnvValues<typeof env>;

export interface RabbitMqSpec {
  readonly exchange: string;
  readonly routingKey: string;
  /** Declare the exchange at first use; otherwise it must already exist. */
  readonly assert?: boolean;
  /** The exchange type to declare (default topic); only with assert. */
  readonly type?: ExchangeType;
}

const destination = z
  .strictObject({
    exchange: templateString('an exchange name'),
    routingKey: templateString('a routing key').default('${aggregateType}.${eventType}'),
    assert: z.boolean({ error: 'expected true or false' }).default(false),
    type: z.enum(EXCHANGE_TYPES, { error: `expected one of ${EXCHANGE_TYPES.join(', ')}` }).optional(),
  })
  .refine((spec) => spec.assert || spec.type === undefined, {
    message: 'only used with assert: true (the relay declares the exchange with this type)',
    path: ['type'],
  });

export const rabbitmq = defineSink({
  name: 'rabbitmq',
  title: 'RabbitMQ',
  variable: 'RABBITMQ_URL',
  env,
  settings(values): RabbitMqSettings | undefined {
    const e = values as Env;
    const tls = rabbitmqTls(e);
    if (e.RABBITMQ_URL === undefined) return undefined;
    return {
      url: e.RABBITMQ_URL,
      maxUnconfirmed: e.RABBITMQ_MAX_UNCONFIRMED,
      maxMessageBytes: e.RABBITMQ_MAX_MESSAGE_BYTES,
      tls,
    };
  },
  synopsis: 'exchange, routingKey',
  destination: destination,
  // No one configured it, so the relay declares it.
  defaultDestination: {
    exchange: 'outbox',
    routingKey: '${aggregateType}.${eventType}',
    assert: true,
    type: 'topic',
  } satisfies RabbitMqSpec,
  compile(spec: RabbitMqSpec) {
    const exchange = compileTemplate(spec.exchange);
    const routingKey = compileTemplate(spec.routingKey);
    const assertExchange = spec.assert ? (spec.type ?? 'topic') : undefined;
    return {
      fields: [...exchange.fields, ...routingKey.fields],
      resolve: (event): RabbitMqDestination => {
        const name = exchange.render(event);
        return {
          sink: 'rabbitmq',
          exchange: name,
          routingKey: routingKey.render(event),
          assertExchange,
          label: metricLabel(exchange, name),
        };
      },
    };
  },
  describe: (destination: RabbitMqDestination) =>
    `rabbitmq:${destination.exchange}/${destination.routingKey}`,
  async create(settings: RabbitMqSettings, { logger, onPublishError, onReadyChange }) {
    const { RabbitMqSink } = await import('./rabbitmq-sink.js');
    return new RabbitMqSink({
      url: settings.url,
      tls: settings.tls && readTlsFiles(settings.tls),
      maxUnconfirmed: settings.maxUnconfirmed,
      maxMessageBytes: settings.maxMessageBytes,
      logger,
      onPublishError,
      onReadyChange,
    });
  },
});

function rabbitmqTls(e: Env): TlsFiles | undefined {
  const files = {
    caFile: e.RABBITMQ_SSL_CA_FILE,
    certFile: e.RABBITMQ_SSL_CERT_FILE,
    keyFile: e.RABBITMQ_SSL_KEY_FILE,
  };
  if (Object.values(files).every((file) => file === undefined)) return undefined;
  if (e.RABBITMQ_URL !== undefined && !e.RABBITMQ_URL.startsWith('amqps://'))
    throw new ConfigError(
      'RABBITMQ_URL',
      'expected an amqps:// URL when RABBITMQ_SSL_*_FILE variables are set',
    );
  if ((files.certFile === undefined) !== (files.keyFile === undefined))
    throw new ConfigError(
      files.certFile === undefined ? 'RABBITMQ_SSL_CERT_FILE' : 'RABBITMQ_SSL_KEY_FILE',
      'required: a client certificate needs both RABBITMQ_SSL_CERT_FILE and RABBITMQ_SSL_KEY_FILE',
    );
  return files;
}
