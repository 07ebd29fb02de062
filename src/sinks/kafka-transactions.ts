// The transactional kafkajs producer of the exactly-once Kafka sink, and the progress it committed:
// starting it (a new producer, fencing older ones and ending their open transaction, then the
// progress read back) and committing one Kafka transaction of messages plus a progress record.
// The progress is judged against the server streamed now (kafka-progress-server.ts) whenever it is
// read back and whenever a replication session identifies its server; records name that server.
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { javaCompatiblePartitioner } from './kafka-partitioner.js';
import type { Admin, KafkaConfig, LogEntry, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { ConfigError } from '../config-fields.js';
import type { TransactionMetrics } from '../observability/transaction-metrics.js';
import { logKafkajs } from './kafka-errors.js';
import { recordsByTopic } from './kafka-message.js';
import { encodeProgress, progressAfter } from './kafka-progress.js';
import type { Progress } from './kafka-progress.js';
import { progressOnServer } from './kafka-progress-server.js';
import { withoutConfirmed, withPublished } from './kafka-unconfirmed.js';
import type { UnconfirmedTransaction } from './kafka-unconfirmed.js';
import { checkExactlyOnce, readProgress } from './kafka-progress-topic.js';
import type { SinkMessage } from './sink.js';
import type { Lsn } from '../wal/lsn.js';
import type { ServerIdentity, TimelineHistory } from '../wal/timeline.js';

// A transaction that starts right after the previous commit is often answered CONCURRENT_TRANSACTIONS
// (the coordinator is still writing the commit markers) and retried by kafkajs: a short first pause
// keeps that from adding 200 ms to every transaction at low load. Longer failures are the sink's.
const TRANSACTION_RETRY = { retries: 8, initialRetryTime: 20, maxRetryTime: 5_000 };

const IDLE_PROBE_MS = 5_000;

export interface TransactionalProducerOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly ssl?: KafkaConfig['ssl'];
  readonly sasl?: KafkaConfig['sasl'];
  readonly autoCreateTopics: boolean;
  readonly transactionalId: string;
  readonly progressTopic: string;
  /** The slot, written into each progress record for people reading the topic. */
  readonly slot: string;
  readonly logger: Logger;
  readonly metrics: TransactionMetrics;
}

export class TransactionalProducer {
  private readonly kafka: Kafka;
  /** Quiet, one attempt: the idle probe's (its next round is the retry). */
  private readonly probeAdmin: Admin;
  private producer: Producer | undefined;
  private progress: Progress | undefined;
  /** The server streamed now, and its timeline's history when it was needed; unknown at first. */
  private server: { identity: ServerIdentity; history: TimelineHistory | undefined } | undefined;
  /** The last warning about a record set aside or cut: each is logged once. */
  private lastWarning: string | undefined;
  private checked = false;

  constructor(private readonly options: TransactionalProducerOptions) {
    const log = options.logger.child({ sink: 'kafka' });
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      ssl: options.ssl,
      sasl: options.sasl,
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => logKafkajs(log, entry),
      retry: TRANSACTION_RETRY,
    });
    this.probeAdmin = new Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      ssl: options.ssl,
      sasl: options.sasl,
      logLevel: logLevel.NOTHING,
    }).admin({ retry: { retries: 0 } });
  }

  /** Whether the cluster answers a metadata request (for /readyz while nothing is sent). */
  async reachable(): Promise<boolean> {
    try {
      await this.probeAdmin.connect();
      await this.probeAdmin.describeCluster();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Every few seconds while `idle()`, asks whether the cluster answers and tells `onResult` (unless
   * work began meanwhile). Returns the stop.
   */
  probeWhileIdle(idle: () => boolean, onResult: (reachable: boolean) => void): () => void {
    let probing = false;
    const timer = setInterval(() => {
      if (probing || !idle()) return;
      probing = true;
      void this.reachable()
        .then((reachable) => idle() && onResult(reachable))
        .finally(() => (probing = false));
    }, IDLE_PROBE_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** The progress committed last: read back at start, then moved by each commit. */
  get committed(): Progress | undefined {
    return this.progress;
  }

  /**
   * A replication session streams from `identity` (`history`: its timeline's, if read): the
   * progress is judged against it, and the records committed from now on name it.
   */
  serverIdentified(identity: ServerIdentity, history: TimelineHistory | undefined): void {
    this.server = { identity, history };
    this.progress = this.judged(this.progress);
  }

  /**
   * The start-up check of the cluster's transaction log and the progress topic (created when
   * missing); throws ConfigError. When Kafka cannot be reached yet, the first start() makes it.
   */
  async check(): Promise<void> {
    const admin = this.kafka.admin({ retry: { retries: 1 } });
    try {
      await admin.connect();
      await this.checkWith(admin);
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      this.options.logger.warn(
        { err: error },
        'kafka: exactly-once settings not checked yet (checked at connect)',
      );
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** One attempt: a new producer (ending any transaction of an older one), then the progress read. */
  async start(): Promise<Progress | undefined> {
    const { progressTopic, transactionalId } = this.options;
    await this.disconnect();
    const admin = this.kafka.admin({ retry: { retries: 2 } });
    try {
      await admin.connect();
      if (!this.checked) await this.checkWith(admin);
      const producer = this.kafka.producer({
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: javaCompatiblePartitioner,
        allowAutoTopicCreation: this.options.autoCreateTopics,
        retry: TRANSACTION_RETRY,
      });
      await producer.connect();
      this.producer = producer;
      const read = await readProgress(this.kafka, admin, progressTopic, transactionalId);
      // The last record committed under this id is the progress (a fenced producer commits none).
      this.progress = read === undefined ? this.progress : this.judged(read);
      return this.progress;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** One Kafka transaction: the messages, and the progress record past the last of them. */
  async commit(messages: readonly SinkMessage[]): Promise<void> {
    const { producer } = this;
    if (!producer) throw new Error('kafka: producer not connected');
    const started = Date.now();
    let progress = this.progress;
    const server = this.server?.identity;
    const published: UnconfirmedTransaction[] = [];
    for (const { position, event } of messages) {
      if (!position) continue;
      progress = progressAfter(progress, position);
      if (event.xid !== undefined && event.seq !== undefined)
        published.push({ xid: event.xid, commitLsn: position.commitLsn, seq: event.seq });
    }
    if (progress && published.length > 0)
      progress = { ...progress, unconfirmed: withPublished(progress.unconfirmed ?? [], published) };
    if (progress && progress !== this.progress && server) progress = { ...progress, server };
    const topicMessages = recordsByTopic(messages);
    // Swept rows alone move no progress: their transaction writes no record.
    if (progress && progress !== this.progress) {
      const value = encodeProgress(progress, this.options.slot);
      topicMessages.push({
        topic: this.options.progressTopic,
        messages: [{ key: this.options.transactionalId, value }],
      });
    }
    const transaction = await producer.transaction();
    try {
      await transaction.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
      await transaction.commit();
    } catch (error) {
      this.options.metrics.aborted();
      // A failed commit leaves kafkajs unable to abort; the next producer's initialisation ends it.
      await transaction.abort().catch(() => undefined);
      throw error;
    }
    // Judged again: a session may have identified another server meanwhile.
    this.progress = this.judged(progress);
    this.options.metrics.committed(messages.length, (Date.now() - started) / 1000);
  }

  /**
   * The slot confirmed `lsn`: transactions before it are completed, and leave the list the next
   * progress record carries (a sweep can no longer see their rows).
   */
  walConfirmed(lsn: Lsn): void {
    const { progress } = this;
    if (!progress?.unconfirmed) return;
    const unconfirmed = withoutConfirmed(progress.unconfirmed, lsn);
    if (unconfirmed !== progress.unconfirmed) this.progress = { ...progress, unconfirmed };
  }

  /** Replaces the progress record (a new slot: positions of the old WAL mean nothing now). */
  async replaceProgress(replacement: Progress): Promise<void> {
    const { producer } = this;
    if (!producer) throw new Error('kafka: producer not connected');
    const server = this.server?.identity;
    const progress = server ? { ...replacement, server } : replacement;
    const transaction = await producer.transaction();
    try {
      await transaction.send({
        topic: this.options.progressTopic,
        messages: [{ key: this.options.transactionalId, value: encodeProgress(progress, this.options.slot) }],
        acks: -1,
      });
      await transaction.commit();
    } catch (error) {
      this.options.metrics.aborted();
      await transaction.abort().catch(() => undefined);
      throw error;
    }
    this.progress = progress;
  }

  async disconnect(): Promise<void> {
    const { producer } = this;
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all([this.disconnect(), this.probeAdmin.disconnect().catch(() => undefined)]);
  }

  /** `progress` as far as it holds on the server streamed now; warns once when set aside or cut. */
  private judged(progress: Progress | undefined): Progress | undefined {
    if (!this.server) return progress;
    const judged = progressOnServer(progress, this.server.identity, this.server.history);
    if (judged.warning && judged.warning !== this.lastWarning)
      this.options.logger.warn({ server: this.server.identity }, `kafka: ${judged.warning}`);
    this.lastWarning = judged.warning ?? this.lastWarning;
    return judged.progress;
  }

  private async checkWith(admin: Admin): Promise<void> {
    const warning = await checkExactlyOnce(admin, this.options.progressTopic);
    if (warning) this.options.logger.warn(`kafka: ${warning}`);
    this.checked = true;
  }
}
