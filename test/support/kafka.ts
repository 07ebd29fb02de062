// Reads topics back from the real broker, for assertions.
//
// kafkajs' consumer can stop for good after a broker restart (a group join answered "coordinator is
// loading" under load crashes its runner) and says nothing at log level NOTHING. A test counting
// deliveries must not mistake that for missing events, so every reader here is a KafkaFollower: it
// compares its position with the topics' end offsets every second, and replaces a consumer that
// crashed or made no progress for STALL_MS while behind. Each replacement is recorded in `restarts`
// (tests print them) and the new consumer skips, by offset, what was already read.
import { Kafka, logLevel } from 'kafkajs';
import type { Admin, Consumer, KafkaMessage } from 'kafkajs';
import { KAFKA_BROKER, uniqueName } from '../kit/services.js';
import { waitFor, waitForMessages } from '../kit/wait.js';

export interface ReceivedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string;
  readonly value: string;
  /** The value's bytes as sent (Avro, Protobuf). */
  readonly valueBytes: Buffer;
  readonly headers: Record<string, string>;
}

const kafka = new Kafka({
  clientId: 'outbox-relay-tests',
  brokers: [KAFKA_BROKER],
  logLevel: logLevel.NOTHING,
});

const STALL_MS = 15_000;
const CHECK_MS = 1_000;

export async function createTopics(topics: string[], partitions = 3): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: partitions })),
      waitForLeaders: true,
    });
  } catch (error) {
    // Right after the creation a loaded broker's metadata may not know the topic yet, and kafkajs'
    // wait for leaders retries only LEADER_NOT_AVAILABLE: wait for every partition's leader here.
    if ((error as { type?: unknown }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
    await waitFor(`leaders of ${topics.join(', ')}`, async () => {
      const metadata = await admin.fetchTopicMetadata({ topics });
      return metadata.topics.every(
        (topic) =>
          topic.partitions.length === partitions &&
          topic.partitions.every((partition) => partition.leader >= 0),
      );
    });
  } finally {
    await admin.disconnect();
  }
}

/** Per partition ("topic:partition"), the offset of the next message: the log end or a reader's position. */
type Positions = Map<string, bigint>;

/** Follows topics from the beginning and hands each message to `onMessage` once, in partition order. */
export class KafkaFollower {
  /** Why each consumer was replaced (a crash, or no progress while behind). */
  readonly restarts: string[] = [];
  private readonly next: Positions = new Map();
  private consumer: Consumer | undefined;
  private crashed: string | undefined;
  private stalledSince: number | undefined;
  private readAtLastCheck = -1n;
  /** The check under way, if any: stop() waits for it, so no consumer is made after the stop. */
  private checking: Promise<void> | undefined;
  private stopped = false;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly topics: string[],
    private readonly onMessage: (message: ReceivedMessage) => void,
    private readonly admin: Admin,
  ) {
    this.timer = setInterval(() => {
      if (this.checking || this.stopped) return;
      this.checking = this.check().finally(() => (this.checking = undefined));
    }, CHECK_MS);
  }

  static async start(
    topics: string[],
    onMessage: (message: ReceivedMessage) => void,
  ): Promise<KafkaFollower> {
    const admin = kafka.admin();
    await admin.connect();
    const follower = new KafkaFollower(topics, onMessage, admin);
    await follower.connect();
    return follower;
  }

  /** The topics' end offsets against what was read, e.g. "t:0 end 120 read 120". */
  async positions(): Promise<string> {
    const ends = await this.endOffsets();
    return [...ends]
      .map(([partition, end]) => `${partition} end ${end} read ${this.next.get(partition) ?? 0n}`)
      .join(', ');
  }

  /** Makes the current consumer stop fetching without a word, as a stalled one does (for tests of this class). */
  simulateStall(): void {
    this.consumer?.pause(this.topics.map((topic) => ({ topic })));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.checking;
    await this.consumer?.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    // No restart by kafkajs itself: a disconnect() while its own restart is connecting leaves that
    // restart's connection open (kafkajs 2.2.4); this class replaces a crashed consumer instead.
    const consumer = kafka.consumer({
      groupId: uniqueName('test'),
      maxWaitTimeInMs: 100,
      retry: { retries: 5, restartOnFailure: () => Promise.resolve(false) },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.crashed = `consumer crashed: ${payload.error.message}`;
    });
    // Until it has connected, count it as crashed: a failed connect is replaced on the next check.
    this.crashed = 'consumer not connected';
    await consumer.connect();
    this.crashed = undefined;
    await consumer.subscribe({ topics: this.topics, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ topic, partition, message }) => {
        this.receive(topic, partition, message);
        return Promise.resolve();
      },
    });
  }

  private receive(topic: string, partition: number, message: KafkaMessage): void {
    const key = `${topic}:${partition}`;
    const offset = BigInt(message.offset);
    if (offset < (this.next.get(key) ?? 0n)) return; // already read by a consumer this one replaced
    this.next.set(key, offset + 1n);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
    this.onMessage({
      topic,
      partition,
      offset: message.offset,
      key: message.key?.toString() ?? '',
      value: message.value?.toString() ?? '',
      valueBytes: message.value ?? Buffer.alloc(0),
      headers,
    });
  }

  private async endOffsets(): Promise<Positions> {
    const ends: Positions = new Map();
    for (const topic of this.topics) {
      for (const { partition, high } of await this.admin.fetchTopicOffsets(topic)) {
        ends.set(`${topic}:${partition}`, BigInt(high));
      }
    }
    return ends;
  }

  private async check(): Promise<void> {
    try {
      let reason = this.crashed;
      if (reason === undefined) {
        let behind = 0n;
        for (const [partition, end] of await this.endOffsets()) {
          const read = this.next.get(partition) ?? 0n;
          if (end > read) behind += end - read;
        }
        const read = [...this.next.values()].reduce((sum, offset) => sum + offset, 0n);
        const progressed = read !== this.readAtLastCheck;
        this.readAtLastCheck = read;
        if (behind === 0n || progressed) this.stalledSince = undefined;
        else this.stalledSince ??= Date.now();
        if (this.stalledSince !== undefined && Date.now() - this.stalledSince >= STALL_MS) {
          reason = `no progress for ${STALL_MS / 1000} s while ${behind} messages behind (${await this.positions()})`;
        }
      }
      if (reason !== undefined && !this.stopped) {
        this.restarts.push(`${new Date().toISOString()} ${reason}`);
        this.stalledSince = undefined;
        await this.consumer?.disconnect().catch(() => undefined);
        await this.connect();
      }
    } catch {
      // The broker is down (an outage test): that is no stall; look again on the next tick.
      this.stalledSince = undefined;
    }
  }
}

/**
 * Collects every message of the topics from the beginning, in partition order, until stopped; or,
 * given `onMessage`, hands each one over instead of keeping it.
 */
export class TopicReader {
  readonly messages: ReceivedMessage[] = [];
  private follower: KafkaFollower | undefined;

  static async start(topics: string[], onMessage?: (message: ReceivedMessage) => void): Promise<TopicReader> {
    const reader = new TopicReader();
    reader.follower = await KafkaFollower.start(
      topics,
      onMessage ?? ((message) => reader.messages.push(message)),
    );
    return reader;
  }

  /** Waits until `count` messages (or more) arrived; on timeout says where the reader and the topics stand. */
  waitForCount(count: number, timeoutMs?: number): Promise<ReceivedMessage[]> {
    return waitForMessages(this, count, timeoutMs);
  }

  ids(): string[] {
    return this.messages.map((message) => message.headers['id']!);
  }

  /** The reader's position against the topics' end offsets, and its consumer replacements. */
  async describe(): Promise<string> {
    const positions = await this.follower!.positions().catch(
      (error: Error) => `end offsets: ${error.message}`,
    );
    return `Kafka: ${positions}; reader restarts: ${this.follower!.restarts.length === 0 ? 'none' : this.follower!.restarts.join(' | ')}`;
  }

  get restarts(): readonly string[] {
    return this.follower!.restarts;
  }

  /** Makes the consumer stop fetching without a word (for the test of the stall detection). */
  simulateStall(): void {
    this.follower!.simulateStall();
  }

  async stop(): Promise<void> {
    await this.follower?.stop();
  }
}
