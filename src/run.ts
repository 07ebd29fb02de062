// The sinks the routes need, built from a Config (the relay's, and the bench's polling relay's).
import { ConfigError } from './config.js';
import type { Config } from './config.js';
import type { Logger } from './observability/logger.js';
import type { PrometheusMetrics } from './observability/metrics.js';
import { defaultRoutes } from './routing/router.js';
import type { RoutesSpec } from './routing/router.js';
import { loadRoutesFile, RoutesFileError } from './routing/routes-file.js';
import { KafkaSink } from './sinks/kafka.js';
import { RabbitMqSink } from './sinks/rabbitmq.js';
import type { Sink, SinkName } from './sinks/sink.js';
import { readTlsFiles } from './tls.js';

/** OUTBOX_ROUTES, or the contract's default routes; a mistake in the file is a configuration error. */
export function routesOf(config: Config): RoutesSpec {
  const brokers = { kafka: config.kafkaBrokers.length > 0, rabbitmq: config.rabbitmqUrl !== undefined };
  if (config.routesFile === undefined) return defaultRoutes(brokers);
  try {
    return loadRoutesFile(config.routesFile, brokers);
  } catch (error) {
    if (error instanceof RoutesFileError) throw new ConfigError('OUTBOX_ROUTES', error.message);
    throw error;
  }
}

/** The sink the relay uses for `name`; the bench's polling relay publishes through the same one. */
export function createSink(name: SinkName, config: Config, logger: Logger, metrics: PrometheusMetrics): Sink {
  switch (name) {
    case 'kafka':
      if (config.kafkaBrokers.length === 0)
        throw new ConfigError('KAFKA_BROKERS', 'required: a route sends to Kafka');
      return new KafkaSink({
        brokers: config.kafkaBrokers,
        clientId: config.kafkaClientId,
        ssl: config.kafkaTls && {
          ...readTlsFiles(config.kafkaTls),
          rejectUnauthorized: config.kafkaTls.rejectUnauthorized,
        },
        sasl: config.kafkaSasl,
        maxMessageBytes: config.kafkaMaxMessageBytes,
        maxBatchMessages: config.kafkaBatchSize,
        autoCreateTopics: config.kafkaAutoCreateTopics,
        idleProbeIntervalMs: 5_000,
        logger,
        onPublishError: () => metrics.publishError('kafka'),
        onReadyChange: (ready) =>
          logger.info({ sink: 'kafka' }, ready ? 'broker connected' : 'broker connection lost'),
      });
    case 'rabbitmq':
      if (config.rabbitmqUrl === undefined)
        throw new ConfigError('RABBITMQ_URL', 'required: a route sends to RabbitMQ');
      return new RabbitMqSink({
        url: config.rabbitmqUrl,
        tls: config.rabbitmqTls && readTlsFiles(config.rabbitmqTls),
        maxUnconfirmed: config.rabbitmqMaxUnconfirmed,
        maxMessageBytes: config.rabbitmqMaxMessageBytes,
        logger,
        onPublishError: () => metrics.publishError('rabbitmq'),
        onReadyChange: (ready) =>
          logger.info({ sink: 'rabbitmq' }, ready ? 'broker connected' : 'broker connection lost'),
      });
  }
}
