// The client-alone baseline with kafka-ts (a maintained pure-TypeScript client without dependencies),
// as bench/kafka-platformatic.ts does with @platformatic/kafka: the same messages and batches, its
// producer (always idempotent, acks from all in-sync replicas), each batch acknowledged before the
// next leaves. Its default partitioner is kafkajs' (Java's murmur2, sign bit masked).
//
// It queues overlapping sends per broker and sends one produce request at a time (maxBatchSize
// messages at most, merged across sends), a partition's sequence advanced on its answer: `inFlight`
// > 1 only lets it merge batches.
import { createKafkaClient } from 'kafka-ts';
import type { Message } from 'kafka-ts';
import type { RawMessage } from './brokers.js';
import { timedBatches } from './timed-batches.js';

export interface KafkaTsPublish {
  readonly broker: string;
  readonly topic: string;
  readonly count: number;
  readonly message: (index: number) => RawMessage;
  readonly batchSize?: number;
  readonly inFlight?: number;
}

/** Publishes `count` messages in serial batches; returns the seconds the batches took. */
export async function kafkaTsRawPublish({
  broker,
  topic,
  count,
  message,
  batchSize = 2_000,
  inFlight = 1,
}: KafkaTsPublish): Promise<number> {
  const [host, port] = broker.split(':') as [string, string];
  const client = createKafkaClient({
    clientId: 'outbox-bench',
    bootstrapServers: [{ host, port: Number(port) }],
  });
  const producer = client.createProducer({ maxBatchSize: batchSize * inFlight });
  const toKafka = ({ key, value, headers }: RawMessage): Message => ({ topic, key, value, headers });
  try {
    return await timedBatches({ count, batchSize, inFlight, message }, toKafka, (messages) =>
      producer.send(messages),
    );
  } finally {
    await producer.close();
  }
}
