// The client-alone baseline through the relay's own Kafka sink (createPublisher, the public API):
// kafkajs with the relay's produce encoder (src/sinks/kafka-wire.ts), its message contract and its
// batching (KAFKA_BATCH_SIZE, one batch in flight), without PostgreSQL. The same messages as the other
// clients: the native format writes the five contract headers, the event carries traceparent.
// `batchSize` events are handed over at a time and all confirmed before the next ones, as the others.
// Open the publisher before anything imports kafkajs: the sink puts its batch grouping, checksum and
// request frame in kafkajs' module cache before kafkajs loads (it logs a warning when too late).
import { createPublisher, loadConfig } from '../src/index.js';
import type { OutboxEvent, OutboxPublisher } from '../src/index.js';
import type { RawMessage } from './brokers.js';

export const RELAY_BATCH_SIZE = 2_000;

/** The relay's Kafka sink, its batches of `batchSize` messages (KAFKA_BATCH_SIZE). */
export function openRelayPublisher(broker: string, batchSize = RELAY_BATCH_SIZE): Promise<OutboxPublisher> {
  return createPublisher(
    loadConfig({
      // The publisher never connects to PostgreSQL; the configuration requires the variable.
      DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused',
      KAFKA_BROKERS: broker,
      KAFKA_BATCH_SIZE: String(batchSize),
      LOG_LEVEL: 'warn',
    }),
  );
}

export interface RelaySinkPublish {
  readonly publisher: OutboxPublisher;
  readonly aggregateType: string;
  readonly count: number;
  readonly message: (index: number) => RawMessage;
  readonly batchSize?: number;
}

/** Publishes `count` messages, `batchSize` confirmed at a time; returns seconds. Closes the publisher. */
export async function relaySinkRawPublish({
  publisher,
  aggregateType,
  count,
  message,
  batchSize = RELAY_BATCH_SIZE,
}: RelaySinkPublish): Promise<number> {
  const toEvent = ({ key, value, headers }: RawMessage): OutboxEvent => ({
    id: headers.id!,
    aggregateType,
    aggregateId: key,
    eventType: headers.event_type!,
    payload: value,
    headers: { traceparent: headers.traceparent! },
    createdAt: headers.created_at!,
  });
  try {
    await publisher.publish(toEvent(message(0)));
    const started = performance.now();
    for (let sent = 0; sent < count;) {
      const batch: Promise<void>[] = [];
      for (const end = Math.min(count, sent + batchSize); sent < end; sent++)
        batch.push(publisher.publish(toEvent(message(sent))));
      await Promise.all(batch);
    }
    return (performance.now() - started) / 1000;
  } finally {
    await publisher.close();
  }
}
