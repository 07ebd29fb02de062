// Kafka as a sink: its settings (KAFKA_*), its routes-file destination (`kafka: { topic }`) and its
// factory. The sink itself (kafka-sink.ts) and kafkajs load only when a route needs Kafka.
import * as z from 'zod';
import { boolean, ConfigError, existingFile, integer } from '../config-fields.js';
import type { EnvSettings, EnvValues, TlsFiles } from '../config-fields.js';
import { compileTemplate, metricLabel, templateString } from '../routing/template.js';
import { readTlsFiles } from '../tls.js';
import type { KafkaDestination } from './kafka-destination.js';
import type { KafkaTransactionalSinkOptions } from './kafka-transactional-sink.js';
import { databaseName } from '../db/identifiers.js';
import { defineSink } from './sink.js';
import type { Sink, SinkContext } from './sink.js';

export interface KafkaTls extends TlsFiles {
  /** False only with KAFKA_SSL_INSECURE=true: accepts any broker certificate (tests only). */
  readonly rejectUnauthorized: boolean;
}

export type KafkaSasl = {
  readonly username: string;
  readonly password: string;
} & (
  | { readonly mechanism: 'plain' }
  | { readonly mechanism: 'scram-sha-256' }
  | { readonly mechanism: 'scram-sha-512' }
);

export interface KafkaSettings {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly maxMessageBytes: number;
  readonly batchSize: number;
  /** Ask the broker to create a missing topic (when its auto.create.topics.enable allows it). */
  readonly autoCreateTopics: boolean;
  /** TLS for Kafka; undefined means plaintext. */
  readonly tls: KafkaTls | undefined;
  readonly sasl: KafkaSasl | undefined;
  /** KAFKA_EXACTLY_ONCE: transactions and a progress record (kafka-transactional-sink.ts). */
  readonly exactlyOnce: ExactlyOnceSettings | undefined;
}

export interface ExactlyOnceSettings {
  readonly transactionalId: string;
  readonly progressTopic: string;
  readonly slot: string;
}

export interface KafkaSpec {
  readonly topic: string;
}

const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/;
// Kafka's legal topic characters; template fields are checked when they are filled in, by the broker.
const KAFKA_TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

const env = {
  KAFKA_BROKERS: {
    doc: 'comma-separated `host:port` list; required when a route (or the default route) publishes to Kafka',
    schema: z
      .string()
      .refine(
        (value) => value.split(',').every((broker) => HOST_PORT.test(broker.trim())),
        'expected a comma-separated list of host:port',
      )
      .optional(),
  },
  KAFKA_CLIENT_ID: {
    doc: 'kafkajs client id, as the brokers see it (quotas, logs)',
    schema: z.string().min(1, 'expected a non-empty client id').default('outbox-relay'),
  },
  KAFKA_MAX_MESSAGE_BYTES: {
    doc: "a larger message is dead-lettered instead of sent; keep it at or below the topic's `max.message.bytes`",
    schema: integer(1, 2 ** 31 - 1).default(1_048_576),
  },
  KAFKA_BATCH_SIZE: {
    doc: 'most messages per produce request',
    schema: integer(1, 100_000).default(2_000),
  },
  KAFKA_AUTO_CREATE_TOPICS: {
    doc: 'ask the broker to create a missing topic (if its `auto.create.topics.enable` allows); `false`: an event for a missing topic is dead-lettered',
    schema: boolean.default(true),
  },
  KAFKA_EXACTLY_ONCE: {
    doc: '`true`: publish in Kafka transactions with a progress record, so read_committed consumers see each event once, across crashes, restarts and failovers (see docs/operations.md)',
    schema: boolean.default(false),
  },
  KAFKA_PROGRESS_TOPIC: {
    doc: 'with `KAFKA_EXACTLY_ONCE`: the compacted topic of progress records (created when missing)',
    schema: z
      .string()
      .regex(KAFKA_TOPIC, 'expected a Kafka topic name: letters, digits, ".", "_" and "-", at most 249')
      .default('outbox-relay.progress'),
  },
  KAFKA_TRANSACTIONAL_ID: {
    doc: "with `KAFKA_EXACTLY_ONCE`: the producer's transactional id and progress key; default `outbox-relay.<database>.<slot>`. Unique per database and slot; every instance of one slot must share it",
    schema: z.string().min(1, 'expected a non-empty transactional id').optional(),
  },
  KAFKA_SSL: {
    doc: '`true` for TLS to the brokers (implied by any `KAFKA_SSL_*_FILE`)',
    schema: boolean.optional(),
  },
  KAFKA_SSL_CA_FILE: { doc: 'CA file for the brokers', schema: existingFile },
  KAFKA_SSL_CERT_FILE: {
    doc: 'client certificate file; requires `KAFKA_SSL_KEY_FILE`',
    schema: existingFile,
  },
  KAFKA_SSL_KEY_FILE: { doc: 'client key file; requires `KAFKA_SSL_CERT_FILE`', schema: existingFile },
  KAFKA_SSL_INSECURE: {
    doc: '`true` accepts any broker certificate (tests only)',
    schema: boolean.default(false),
  },
  KAFKA_SASL_MECHANISM: {
    doc: '`plain`, `scram-sha-256` or `scram-sha-512`',
    schema: z
      .enum(['plain', 'scram-sha-256', 'scram-sha-512'], {
        error: 'expected plain, scram-sha-256 or scram-sha-512',
      })
      .optional(),
  },
  KAFKA_SASL_USERNAME: { doc: 'required with a mechanism', schema: z.string().optional() },
  KAFKA_SASL_PASSWORD: { doc: 'required with a mechanism', schema: z.string().optional() },
} satisfies EnvSettings;

type Env = EnvValues<typeof env>;

const destination = z.strictObject({
  topic: templateString('a topic name').refine(
    (topic) => KAFKA_TOPIC.test(topic.replace(/\$\{[^}]*\}/g, 'x')),
    'expected a Kafka topic name: letters, digits, ".", "_" and "-", at most 249',
  ),
});

export const kafka = defineSink({
  name: 'kafka',
  title: 'Kafka',
  variable: 'KAFKA_BROKERS',
  env,
  settings(values): KafkaSettings | undefined {
    const e = values as Env;
    const tls = kafkaTls(e);
    const sasl = kafkaSasl(e);
    if (e.KAFKA_BROKERS === undefined) return undefined;
    return {
      brokers: e.KAFKA_BROKERS.split(',').map((broker) => broker.trim()),
      clientId: e.KAFKA_CLIENT_ID,
      maxMessageBytes: e.KAFKA_MAX_MESSAGE_BYTES,
      batchSize: e.KAFKA_BATCH_SIZE,
      autoCreateTopics: e.KAFKA_AUTO_CREATE_TOPICS,
      tls,
      sasl,
      exactlyOnce: e.KAFKA_EXACTLY_ONCE ? exactlyOnceSettings(e, values) : undefined,
    };
  },
  synopsis: 'topic',
  destination: destination,
  defaultDestination: { topic: 'outbox.${aggregateType}' },
  compile(spec: KafkaSpec) {
    const topic = compileTemplate(spec.topic);
    return {
      fields: topic.fields,
      resolve: (event): KafkaDestination => {
        const name = topic.render(event);
        return { sink: 'kafka', topic: name, label: metricLabel(topic, name) };
      },
    };
  },
  describe: (destination: KafkaDestination) => `kafka:${destination.topic}`,
  async create(settings: KafkaSettings, context) {
    const { logger, metrics, onPublishError, onReadyChange } = context;
    const { installBatchHelpers, installProduceEncoder } = await import('./kafkajs-internals.js');
    // Before kafkajs loads (it takes the batch grouping and the request frame then) and before its
    // first produce (which takes the produce encoder and the checksum): kafkajs-internals.ts.
    const batchHelpers = installBatchHelpers();
    const { KafkaSink } = await import('./kafka-sink.js');
    if (!batchHelpers)
      logger.warn(
        { sink: 'kafka' },
        "kafka: batch grouping, checksum and request frame not installed (kafkajs was loaded first, or its files moved): kafkajs' own, slower ones are used",
      );
    const active = installProduceEncoder();
    metrics.setFlag(
      'outbox_relay_kafka_record_encoder_active',
      "1 when kafkajs writes produce requests with the relay's own encoder (kafkajs-internals.ts), 0 with its own (same bytes, slower).",
      active,
    );
    if (active) logger.info({ sink: 'kafka' }, 'kafka: produce encoder installed');
    else
      logger.warn(
        { sink: 'kafka' },
        "kafka: produce encoder not installed (kafkajs' files moved): kafkajs' own, slower one is used",
      );
    const connection = {
      brokers: settings.brokers,
      clientId: settings.clientId,
      ssl: settings.tls && {
        ...readTlsFiles(settings.tls),
        rejectUnauthorized: settings.tls.rejectUnauthorized,
      },
      sasl: settings.sasl,
    };
    if (settings.exactlyOnce)
      return createTransactionalSink(settings, settings.exactlyOnce, connection, context);
    return new KafkaSink({
      ...connection,
      maxMessageBytes: settings.maxMessageBytes,
      maxBatchMessages: settings.batchSize,
      autoCreateTopics: settings.autoCreateTopics,
      idleProbeIntervalMs: 5_000,
      logger,
      onPublishError,
      onReadyChange,
    });
  },
});

async function createTransactionalSink(
  settings: KafkaSettings,
  exactlyOnce: ExactlyOnceSettings,
  connection: Pick<KafkaTransactionalSinkOptions, 'brokers' | 'clientId' | 'ssl' | 'sasl'>,
  { logger, metrics, onPublishError, onReadyChange, onFatal }: SinkContext,
): Promise<Sink> {
  const [{ KafkaTransactionalSink }, { createTransactionMetrics }] = await Promise.all([
    import('./kafka-transactional-sink.js'),
    import('../observability/transaction-metrics.js'),
  ]);
  const sink = new KafkaTransactionalSink({
    ...connection,
    ...exactlyOnce,
    maxMessageBytes: settings.maxMessageBytes,
    maxBatchMessages: settings.batchSize,
    autoCreateTopics: settings.autoCreateTopics,
    logger,
    metrics: createTransactionMetrics(metrics.registry),
    onPublishError,
    onReadyChange,
    onFatal,
  });
  await sink.transactions.check();
  return sink;
}

function exactlyOnceSettings(e: Env, values: Readonly<Record<string, unknown>>): ExactlyOnceSettings {
  const slot = String(values['OUTBOX_SLOT']);
  return {
    slot,
    progressTopic: e.KAFKA_PROGRESS_TOPIC,
    transactionalId:
      e.KAFKA_TRANSACTIONAL_ID ?? `outbox-relay.${databaseName(String(values['DATABASE_URL']))}.${slot}`,
  };
}

function kafkaTls(e: Env): KafkaTls | undefined {
  const files = {
    caFile: e.KAFKA_SSL_CA_FILE,
    certFile: e.KAFKA_SSL_CERT_FILE,
    keyFile: e.KAFKA_SSL_KEY_FILE,
  };
  const anyFile = Object.values(files).some((file) => file !== undefined);
  if (e.KAFKA_SSL === false && anyFile)
    throw new ConfigError('KAFKA_SSL', 'must not be false when KAFKA_SSL_*_FILE variables are set');
  if ((files.certFile === undefined) !== (files.keyFile === undefined))
    throw new ConfigError(
      files.certFile === undefined ? 'KAFKA_SSL_CERT_FILE' : 'KAFKA_SSL_KEY_FILE',
      'required: a client certificate needs both KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE',
    );
  if (e.KAFKA_SSL !== true && !anyFile) return undefined;
  return { ...files, rejectUnauthorized: !e.KAFKA_SSL_INSECURE };
}

function kafkaSasl(e: Env): KafkaSasl | undefined {
  if (e.KAFKA_SASL_MECHANISM === undefined) {
    if (e.KAFKA_SASL_USERNAME !== undefined || e.KAFKA_SASL_PASSWORD !== undefined)
      throw new ConfigError(
        'KAFKA_SASL_MECHANISM',
        'required with KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD',
      );
    return undefined;
  }
  if (e.KAFKA_SASL_USERNAME === undefined)
    throw new ConfigError('KAFKA_SASL_USERNAME', 'required when KAFKA_SASL_MECHANISM is set');
  if (e.KAFKA_SASL_PASSWORD === undefined)
    throw new ConfigError('KAFKA_SASL_PASSWORD', 'required when KAFKA_SASL_MECHANISM is set');
  return {
    mechanism: e.KAFKA_SASL_MECHANISM,
    username: e.KAFKA_SASL_USERNAME,
    password: e.KAFKA_SASL_PASSWORD,
  };
}
