// The bench's Kafka side: topics per scenario, a latency consumer, and kafkajs' raw publish rate and
// the latency floor's publisher, with the relay's producer settings (idempotent, acks from all
// replicas, the murmur2 partitioner, no compression).
import { CompressionTypes, Kafka, logLevel, Partitioners } from 'kafkajs';
import type { Admin, Message } from 'kafkajs';
import type { Producer } from 'kafkajs';
import type { BenchBroker, BrokerPublisher, Consumer, RawMessage } from './brokers.js';

export const PARTITIONS = 3;

export class KafkaBenchBroker implements BenchBroker {
  readonly name = 'kafka';
  readonly relayEnv: Record<string, string>;

  private constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    broker: string,
    readonly pid: number | undefined,
    exactlyOnce: boolean,
  ) {
    this.relayEnv = { KAFKA_BROKERS: broker, ...(exactlyOnce ? { KAFKA_EXACTLY_ONCE: 'true' } : {}) };
  }

  static async create(
    broker: string,
    pid: number | undefined,
    exactlyOnce = false,
  ): Promise<KafkaBenchBroker> {
    const kafka = new Kafka({ clientId: 'outbox-bench', brokers: [broker], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    return new KafkaBenchBroker(kafka, admin, broker, pid, exactlyOnce);
  }

  async prepare(aggregateType: string): Promise<void> {
    await this.admin.createTopics({
      topics: [{ topic: topicOf(aggregateType), numPartitions: PARTITIONS }],
      waitForLeaders: true,
    });
  }

  async delivered(aggregateType: string): Promise<number> {
    const offsets = await this.admin.fetchTopicOffsets(topicOf(aggregateType));
    return offsets.reduce((sum, partition) => sum + Number(partition.high) - Number(partition.low), 0);
  }

  async consume(
    aggregateType: string,
    onPayloads: (payloads: string[], at: number) => void,
  ): Promise<Consumer> {
    const consumer = this.kafka.consumer({
      groupId: `outbox-bench-${aggregateType}`,
      maxWaitTimeInMs: 100,
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topicOf(aggregateType)], fromBeginning: true });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.run({
      // Committing offsets after every batch (the default) holds the next fetch back by an offset
      // commit round trip, ~15 ms here: it would count as latency. A fresh group needs no commits.
      autoCommit: false,
      eachBatch: ({ batch }) => {
        const at = performance.now();
        onPayloads(
          batch.messages.map((message) => message.value?.toString() ?? ''),
          at,
        );
        return Promise.resolve();
      },
    });
    await joined;
    return { stop: () => consumer.disconnect() };
  }

  async rawPublish(
    aggregateType: string,
    count: number,
    message: (index: number) => RawMessage,
    batchSize = 2_000,
  ): Promise<number> {
    const producer = await this.producer();
    const topic = topicOf(aggregateType);
    try {
      // A warm-up batch outside the timing: the first request fetches metadata and a producer id.
      await producer.send({ topic, acks: -1, messages: [toKafka(message(0))] });
      const started = performance.now();
      for (let sent = 0; sent < count;) {
        const messages: Message[] = [];
        for (const end = Math.min(count, sent + batchSize); sent < end; sent++)
          messages.push(toKafka(message(sent)));
        await producer.sendBatch({
          topicMessages: [{ topic, messages }],
          acks: -1,
          compression: CompressionTypes.None,
        });
      }
      return (performance.now() - started) / 1000;
    } finally {
      await producer.disconnect();
    }
  }

  async publisher(aggregateType: string): Promise<BrokerPublisher> {
    const producer = await this.producer();
    const topic = topicOf(aggregateType);
    return {
      send: async (messages) => {
        await producer.sendBatch({
          topicMessages: [{ topic, messages: messages.map(toKafka) }],
          acks: -1,
          compression: CompressionTypes.None,
        });
      },
      close: () => producer.disconnect(),
    };
  }

  /** A connected producer with the Kafka sink's settings (src/sinks/kafka-sink.ts). */
  private async producer(): Promise<Producer> {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 5,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    return producer;
  }

  async remove(aggregateType: string): Promise<void> {
    await this.admin.deleteGroups([`outbox-bench-${aggregateType}`]).catch(() => undefined);
    await this.admin.deleteTopics({ topics: [topicOf(aggregateType)] }).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.admin.disconnect();
  }
}

/** The default route's topic. */
export function topicOf(aggregateType: string): string {
  return `outbox.${aggregateType}`;
}

function toKafka({ key, value, headers }: RawMessage): Message {
  return { key, value, headers };
}
