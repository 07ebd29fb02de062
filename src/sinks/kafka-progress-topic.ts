// Exactly-once's start-up check (the cluster's transaction log, the progress topic, created when
// missing), and the progress record read back, read_committed, as this transactional id committed it.
import { randomUUID } from 'node:crypto';
import type { Admin, ConfigResourceTypes, Kafka } from 'kafkajs';
import { ConfigError } from '../config-fields.js';
import { progressTopicProblem, transactionLogProblem } from './kafka-exactly-once-checks.js';
import { decodeProgress } from './kafka-progress.js';
import type { Progress } from './kafka-progress.js';

const READ_TIMEOUT_MS = 30_000;
// kafkajs' ConfigResourceTypes: its enum is not among the names its CommonJS build exports to ESM.
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;
const BROKER_RESOURCE = 4 as ConfigResourceTypes;

/**
 * Creates the progress topic when missing (compacted, one partition, the broker's default
 * replication) and checks it and the cluster's transaction log; throws ConfigError on a setting that
 * makes exactly-once impossible, and returns a warning for one that weakens it.
 */
export async function checkExactlyOnce(admin: Admin, topic: string): Promise<string | undefined> {
  const cluster = await admin.describeCluster();
  const brokers = cluster.brokers.length;
  const brokerConfig = await describe(admin, BROKER_RESOURCE, String(cluster.brokers[0]?.nodeId ?? 0));
  const transactionLog = transactionLogProblem({
    brokers,
    replicationFactor: Number(brokerConfig('transaction.state.log.replication.factor') ?? 3),
    minIsr: Number(brokerConfig('transaction.state.log.min.isr') ?? 2),
  });
  if (transactionLog) throw new ConfigError('KAFKA_EXACTLY_ONCE', transactionLog);
  await admin.createTopics({
    topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
    waitForLeaders: true,
  });
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  const topicConfig = await describe(admin, TOPIC_RESOURCE, topic);
  const { error, warning } = progressTopicProblem({
    topic,
    brokers,
    replicas: metadata.topics[0]?.partitions[0]?.replicas.length ?? 0,
    minIsr: Number(topicConfig('min.insync.replicas') ?? 1),
    cleanupPolicy: topicConfig('cleanup.policy') ?? 'delete',
  });
  if (error) throw new ConfigError('KAFKA_PROGRESS_TOPIC', error);
  return warning;
}

/** One resource's configuration, as a lookup by name. */
async function describe(
  admin: Admin,
  type: ConfigResourceTypes,
  name: string,
): Promise<(config: string) => string | undefined> {
  const described = await admin.describeConfigs({
    resources: [{ type, name, configNames: [] }],
    includeSynonyms: false,
  });
  const entries = described.resources[0]?.configEntries ?? [];
  return (config) => entries.find((entry) => entry.configName === config)?.configValue;
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
