// Exactly-once to Kafka: what the start-up check makes of the cluster's settings. No I/O (the
// settings are read in kafka-progress-topic.ts). A problem is one line saying what to set.

export interface TransactionLogSettings {
  readonly brokers: number;
  /** transaction.state.log.replication.factor */
  readonly replicationFactor: number;
  /** transaction.state.log.min.isr */
  readonly minIsr: number;
}

/**
 * Why the cluster cannot run transactions, if it cannot: Kafka creates its transaction state log
 * with this many replicas on first use, and refuses every transactional producer until it exists.
 */
export function transactionLogProblem({ brokers, replicationFactor, minIsr }: TransactionLogSettings) {
  if (replicationFactor > brokers)
    return (
      `the Kafka cluster has ${brokers} broker(s) but transaction.state.log.replication.factor=${replicationFactor}: ` +
      `set it (and transaction.state.log.min.isr) to at most ${brokers} on the brokers, or unset KAFKA_EXACTLY_ONCE`
    );
  if (minIsr > replicationFactor)
    return (
      `transaction.state.log.min.isr=${minIsr} exceeds transaction.state.log.replication.factor=${replicationFactor}: ` +
      `set it to at most ${replicationFactor} on the brokers, or unset KAFKA_EXACTLY_ONCE`
    );
  return undefined;
}

export interface ProgressTopicSettings {
  readonly topic: string;
  readonly brokers: number;
  readonly replicas: number;
  readonly minIsr: number;
  readonly cleanupPolicy: string;
}

/** Whether the progress topic can hold the relay's progress: an error, or a warning to log. */
export function progressTopicProblem(settings: ProgressTopicSettings): {
  readonly error?: string;
  readonly warning?: string;
} {
  const { topic, brokers, replicas, minIsr, cleanupPolicy } = settings;
  if (!cleanupPolicy.split(',').includes('compact'))
    return { error: `progress topic ${topic} has cleanup.policy=${cleanupPolicy}: set it to compact` };
  if (minIsr > replicas)
    return {
      error: `progress topic ${topic} has min.insync.replicas=${minIsr} but ${replicas} replica(s): no write can succeed; lower min.insync.replicas or recreate the topic with more replicas`,
    };
  if (replicas < Math.min(3, brokers) || (replicas > 1 && minIsr < 2))
    return {
      warning: `progress topic ${topic} has ${replicas} replica(s) and min.insync.replicas=${minIsr}: a lost broker can lose progress records (then already published events are published again)`,
    };
  return {};
}
