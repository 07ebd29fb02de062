// Reads topics back from the real broker, for assertions.
import { Kafka, logLevel } from 'kafkajs';
import type { Consumer } from 'kafkajs';
import { KAFKA_BROKER, uniqueName } from './services.js';
import { waitFor } from './wait.js';

export interface ReceivedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly key: string;
  readonly value: string;
  readonly headers: Record<string, string>;
}

const kafka = new Kafka({
  clientId: 'outbox-relay-tests',
  brokers: [KAFKA_BROKER],
  logLevel: logLevel.NOTHING,
});

export async function createTopics(topics: string[], partitions = 3): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: partitions })),
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

/** Collects every message of the topics from the beginning, in partition order, until stopped. */
export class TopicReader {
  readonly messages: ReceivedMessage[] = [];
  private constructor(private readonly consumer: Consumer) {}

  static async start(topics: string[]): Promise<TopicReader> {
    const consumer = kafka.consumer({ groupId: uniqueName('test'), maxWaitTimeInMs: 100 });
    const reader = new TopicReader(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ topic, partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
        reader.messages.push({
          topic,
          partition,
          key: message.key?.toString() ?? '',
          value: message.value?.toString() ?? '',
          headers,
        });
        return Promise.resolve();
      },
    });
    return reader;
  }

  /** Waits until `count` messages (or more) arrived. */
  async waitForCount(count: number, timeoutMs = 60_000): Promise<ReceivedMessage[]> {
    await waitFor(`${count} messages (have ${this.messages.length})`, () => this.messages.length >= count, {
      timeoutMs,
    });
    return this.messages;
  }

  ids(): string[] {
    return this.messages.map((message) => message.headers['id']!);
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
