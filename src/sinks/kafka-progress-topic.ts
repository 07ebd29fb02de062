// The progress topic: created (compacted, one partition) when missing, checked at start-up, and read
// back, read_committed, to the last progress record this relay's transactional id committed.
import { randomUUID } from 'node:crypto';
import type { Admin, ConfigResourceTypes, Kafka } from 'kafkajs';
import { decodeProgress } from './kafka-progress.js';
import type { Progress } from './kafka-progress.js';

const READ_TIMEOUT_MS = 30_000;
// kafkajs' ConfigResourceTypes.TOPIC: its enum is not among the names its CommonJS build exports to ESM.
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;

/** What the start-up check found wrong with the progress topic, if anything. */
export async function ensureProgressTopic(admin: Admin, topic: string): Promise<string | undefined> {
  await admin.createTopics({
    topics: [
      {
        topic,
        numPartitions: 1,
        // The broker's default.replication.factor and min.insync.replicas apply, as for any topic.
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      },
    ],
    waitForLeaders: true,
  });
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  const replicas = metadata.topics[0]?.partitions[0]?.replicas.length ?? 0;
  const described = await admin.describeConfigs({
    resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: [] }],
    includeSynonyms: false,
  });
  const entries = described.resources[0]?.configEntries ?? [];
  const config = (name: string): string | undefined =>
    entries.find((entry) => entry.configName === name)?.configValue;
  if (!(config('cleanup.policy') ?? '').split(',').includes('compact'))
    return `progress topic ${topic} must have cleanup.policy=compact`;
  const minIsr = Number(config('min.insync.replicas') ?? '1');
  if (minIsr > replicas)
    return `progress topic ${topic} has min.insync.replicas=${minIsr} but only ${replicas} replicas: no write can succeed`;
  return undefined;
}

/** The progress record `key` committed last, or undefined when there is none yet. */
export async function readProgress(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  key: string,
): Promise<Progress | undefined> {
  // The last stable offset: transactions still open (another relay's) end before it.
  const [partition] = await admin.fetchTopicOffsets(topic);
  if (!partition || BigInt(partition.high) <= BigInt(partition.low)) return undefined;
  const lastOffset = BigInt(partition.high) - 1n;
  // A group of its own for this one read; nothing is committed for it.
  const consumer = kafka.consumer({ groupId: `${key}.progress.${randomUUID()}`, maxWaitTimeInMs: 100 });
  let latest: string | undefined;
  try {
    const finished = new Promise<void>((resolve, reject) => {
      // Emitted for every fetched batch, also one holding only a transaction marker (which takes
      // the last offset of a committed transaction).
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        if (BigInt(payload.lastOffset) >= lastOffset) resolve();
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
    });
    finished.catch(() => undefined);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: ({ message }) => {
        if (message.key?.toString() === key) latest = message.value?.toString();
        return Promise.resolve();
      },
    });
    await withTimeout(finished, READ_TIMEOUT_MS, `reading progress topic ${topic} took over 30 s`);
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return decodeProgress(latest);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
