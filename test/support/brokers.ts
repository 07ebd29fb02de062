// One broker as the relay scenarios see it, so that a scenario is written once and run against Kafka
// and RabbitMQ: how to read what the relay's default route published, the relay's environment, how to
// stop and start the broker, and what differs (the message contract, what an outage logs).
import assert from 'node:assert/strict';
import { CloudEvent, Kafka } from 'cloudevents';
import type { KafkaMessage } from 'cloudevents';
import { createTopics, TopicReader } from './kafka.js';
import type { ReceivedMessage } from './kafka.js';
import { EventCounter } from './load.js';
import type { TestEvent } from './outbox.js';
import { countQueue, outboxBinding, QueueReader } from './rabbitmq.js';
import type { AmqpMessage } from './rabbitmq.js';
import { relayEnv } from '../kit/relay.js';
import { localService } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';

/** What every broker's message carries, whatever the broker calls it. */
export interface Delivery {
  readonly id: string;
  /** The aggregate id: Kafka's message key; in RabbitMQ the header. */
  readonly key: string;
  /** The payload as JSON text. */
  readonly value: string;
  /** The body's bytes as sent (Avro, Protobuf). */
  readonly bytes: Buffer;
  readonly headers: Record<string, string>;
}

/** A reader of what the default route publishes for one aggregate type (TopicReader, QueueReader). */
export interface BrokerReader<M> {
  readonly messages: readonly M[];
  waitForCount(count: number, timeoutMs?: number): Promise<readonly M[]>;
  ids(): string[];
  stop(): Promise<void>;
}

export interface BrokerFixture<M> {
  readonly name: 'kafka' | 'rabbitmq';
  /** Named in test titles. */
  readonly title: string;
  /** Where the default route puts a message, for a test title ("keyed by aggregate id"). */
  readonly addressing: string;
  /** The relay's environment with this broker alone (its default route). */
  relayEnv(db: TestDatabase, extra?: Record<string, string>): Record<string, string>;
  /** Reads, from now on (Kafka: from the beginning), what the default route publishes for `aggregateType`. */
  read(aggregateType: string): Promise<BrokerReader<M>>;
  /** An EventCounter fed from the default route of `aggregateType`; `readerDuplicates` are the reader's own. */
  count(aggregateType: string): Promise<{ counter: EventCounter; readerDuplicates: () => number }>;
  delivery(message: M): Delivery;
  /**
   * The CloudEvent a consumer reads from a message of a CloudEvents route, with the official SDK
   * (its Kafka binding; for AMQP its event constructor, fed the binding's `cloudEvents_` properties
   * or the structured body), validated.
   */
  cloudEvent(message: M): CloudEvent<unknown>;
  /** The broker's own part of the message contract, beyond the common headers. */
  assertContract(message: M, event: TestEvent, id: string, committedAt: number): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** What a relay does while this broker is down. */
  readonly outage: {
    /** The log line that says the relay is retrying. */
    readonly retryingLog: string;
    /** The reason /readyz gives, where the sink says one. */
    readonly notReadyReason?: string;
    /** A log line the relay writes exactly once per outage, where the sink writes one. */
    readonly loggedOnce?: string;
    /** Whether outbox_relay_lag_seconds grows during the outage and is 0 once caught up. */
    readonly lagGrows: boolean;
  };
  /** How long a scenario waits for its rows to be completed after delivery. */
  readonly completionTimeoutMs: number;
}

export const kafka: BrokerFixture<ReceivedMessage> = {
  name: 'kafka',
  title: 'Kafka',
  addressing: 'keyed by aggregate id',
  relayEnv: (db, extra) => relayEnv(db, extra, 'kafka'),
  async read(aggregateType) {
    const topic = `outbox.${aggregateType}`;
    await createTopics([topic]);
    return TopicReader.start([topic]);
  },
  async count(aggregateType) {
    const topic = `outbox.${aggregateType}`;
    await createTopics([topic]);
    return { counter: await EventCounter.start(topic), readerDuplicates: () => 0 };
  },
  delivery: (message) => ({
    id: message.headers['id'] ?? '',
    key: message.key,
    value: message.value,
    bytes: message.valueBytes,
    headers: message.headers,
  }),
  cloudEvent(message) {
    const { key, value, headers } = message;
    const read: KafkaMessage<string> = { key, value, headers, body: value };
    const received = Kafka.toEvent(read) as CloudEvent<unknown> | CloudEvent<unknown>[];
    assert.ok(!Array.isArray(received), 'one event, not a batch');
    received.validate();
    return received;
  },
  assertContract(message, event) {
    assert.equal(message.key, event.aggregateId);
  },
  stop: () => localService('kafka', 'stop'),
  start: () => localService('kafka', 'start'),
  outage: { retryingLog: 'kafka: publish failed, retrying', lagGrows: false },
  completionTimeoutMs: 30_000,
};

export const rabbitmq: BrokerFixture<AmqpMessage> = {
  name: 'rabbitmq',
  title: 'RabbitMQ',
  addressing: 'to exchange outbox',
  relayEnv: (db, extra) => relayEnv(db, extra, 'rabbitmq'),
  // The queue is durable and the relay's messages persistent: both outlive a stop of the broker.
  read: (aggregateType) => QueueReader.start([outboxBinding(aggregateType)]),
  count: (aggregateType) => countQueue(aggregateType),
  delivery: (message) => ({
    id: message.messageId ?? '',
    key: message.headers['aggregate_id'] ?? '',
    value: message.body,
    bytes: message.content,
    headers: message.headers,
  }),
  cloudEvent(message) {
    if (message.contentType?.startsWith('application/cloudevents+json'))
      return new CloudEvent(JSON.parse(message.body) as Record<string, unknown>);
    const attributes: Record<string, unknown> = { datacontenttype: message.contentType };
    for (const [name, value] of Object.entries(message.headers))
      if (name.startsWith('cloudEvents_')) attributes[name.slice('cloudEvents_'.length)] = value;
    return new CloudEvent({ ...attributes, data: JSON.parse(message.body) as unknown });
  },
  assertContract(message, event, id, committedAt) {
    assert.equal(message.exchange, 'outbox');
    assert.equal(message.routingKey, `${event.aggregateType}.${event.eventType}`);
    assert.equal(message.type, event.eventType);
    assert.equal(message.contentType, 'application/json');
    assert.equal(message.deliveryMode, 2, 'persistent');
    assert.ok(Math.abs(message.timestamp! - committedAt / 1000) < 60, 'timestamp in seconds');
    assert.equal(message.headers['id'], id);
    assert.equal(message.timestamp, Math.floor(Date.parse(message.headers['created_at']!) / 1000));
  },
  stop: () => localService('rabbitmq', 'stop'),
  start: () => localService('rabbitmq', 'start'),
  outage: {
    retryingLog: 'rabbitmq: connection lost, reconnecting',
    notReadyReason: 'rabbitmq is not connected',
    loggedOnce: 'rabbitmq: connection lost',
    lagGrows: true,
  },
  completionTimeoutMs: 90_000,
};
