// Kafka sink: one idempotent kafkajs producer, acks from all in-sync replicas.
//
// Messages queue in publish order and leave in batches, one batch in flight at a time. A batch that
// fails is retried whole before anything behind it is sent, so a key's messages can never overtake
// each other (a retry may duplicate a message; it cannot reorder two). A batch refused for good is
// split into single messages to find the culprit, which is rejected and dead-lettered. A topic the
// cluster does not have (auto-creation off) is remembered for a while, so its events fail fast
// instead of holding up the other topics' batches. While nothing is being sent, a cheap metadata
// request every few seconds tells whether the cluster is still there, so /readyz reports a broker
// that went away from an idle relay.
// close() ends the retrying: messages still unconfirmed then stay unsettled (neither confirmed nor
// dead-lettered), so the relay never completes them and the next start publishes them again.
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { javaCompatiblePartitioner } from './kafka-partitioner.js';
import type { Admin, KafkaConfig, LogEntry, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { backoffDelay } from '../pipeline/backoff.js';
import { SerialBatcher } from '../pipeline/batcher.js';
import { sleep } from '../pipeline/sleep.js';
import type { KafkaDestination } from './kafka-destination.js';
import { logKafkajs, messageRefusal } from './kafka-errors.js';
import { kafkaSizeRefusal, recordsByTopic } from './kafka-message.js';
import { UndeliverableError } from './sink.js';
import type { FormattedDestination, Publication, Sink, SinkMessage } from './sink.js';

export interface KafkaSinkOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly ssl?: KafkaConfig['ssl'];
  readonly sasl?: KafkaConfig['sasl'];
  /** Largest message (key + value + headers) sent at all; larger ones are dead-lettered. */
  readonly maxMessageBytes: number;
  readonly maxBatchMessages: number;
  readonly autoCreateTopics: boolean;
  /** How often an idle sink checks the cluster is reachable; 0 turns the check off. */
  readonly idleProbeIntervalMs: number;
  readonly logger: Logger;
  readonly onPublishError?: (error: unknown) => void;
  readonly onReadyChange?: (ready: boolean) => void;
}

const UNKNOWN_TOPIC_MEMORY_MS = 10_000;
// kafkajs gives up on a request after 30 s (requestTimeout): a send silent for longer is stuck.
const SEND_SILENT_MS = 60_000;
const SEND_SILENT = 'kafka: a batch has had no answer for 60 s';

export class KafkaSink implements Sink {
  readonly name = 'kafka';
  private readonly producer: Producer;
  private readonly admin: Admin;
  private idleProbe: NodeJS.Timeout | undefined;
  // The kafkajs record is built only when its batch is sent: the many messages waiting in the queue
  // (up to the relay's in-flight window) hold no copy of their headers.
  private readonly outgoing: SerialBatcher<Publication>;
  private closing = false;
  private readonly closed = new AbortController();
  private connected = false;
  /** Topic -> when the cluster last said it does not exist, with that refusal. */
  private readonly unknownTopics = new Map<string, { at: number; refusal: UndeliverableError }>();

  // kafkajs-internals.ts's faster produce encoder is installed by the factory (kafka.ts), not here.
  constructor(private readonly options: KafkaSinkOptions) {
    const log = options.logger.child({ sink: 'kafka' });
    const connection: KafkaConfig = {
      clientId: options.clientId,
      brokers: [...options.brokers],
      ssl: options.ssl,
      sasl: options.sasl,
    };
    const kafka = new Kafka({
      ...connection,
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => logKafkajs(log, entry),
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 5,
      // Java's murmur2 partitioning: other Kafka clients put the same key on the same partition.
      createPartitioner: javaCompatiblePartitioner,
      allowAutoTopicCreation: options.autoCreateTopics,
      // Retries are ours (forever, with backoff); kafkajs' own are a short first line.
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
    // Silent, one quick attempt per probe: the next probe is the retry, and the outcome is reported
    // once, as a readiness change.
    this.admin = new Kafka({ ...connection, logLevel: logLevel.NOTHING }).admin({ retry: { retries: 0 } });
    // Our own close() is not a lost broker.
    this.producer.on(this.producer.events.DISCONNECT, () => {
      if (!this.closing) this.setConnected(false);
    });
    this.producer.on(this.producer.events.CONNECT, () => this.setConnected(true));
    this.outgoing = new SerialBatcher(options.maxBatchMessages, (batch) => this.sendWithRetry(batch));
  }

  get ready(): boolean {
    return this.connected;
  }

  async connect(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.producer.connect();
        this.setConnected(true);
        this.startIdleProbe();
        return;
      } catch (error) {
        if (this.closing) throw error;
        this.options.onPublishError?.(error);
        this.options.logger.warn({ err: error, attempt }, 'kafka: connect failed, retrying');
        await sleep(backoffDelay(attempt, 250, 10_000), this.closed.signal);
      }
    }
  }

  publish(publication: Publication): void {
    const tooLarge = kafkaSizeRefusal(publication, this.options.maxMessageBytes);
    if (tooLarge) return publication.failed(tooLarge);
    this.outgoing.push(publication);
  }

  /** The relay has already waited for what it wanted delivered: stop retrying and disconnect. */
  async close(): Promise<void> {
    this.closing = true;
    this.closed.abort();
    clearInterval(this.idleProbe);
    await Promise.all([this.producer.disconnect(), this.admin.disconnect()]);
  }

  private startIdleProbe(): void {
    const interval = this.options.idleProbeIntervalMs;
    if (interval === 0 || this.idleProbe) return;
    let probing = false;
    this.idleProbe = setInterval(() => {
      // While batches are sent, their outcome says whether the cluster is reachable.
      if (probing || this.outgoing.busy || this.closing) return;
      probing = true;
      void this.probeCluster()
        .then((reachable) => {
          if (!this.outgoing.busy && !this.closing) this.setConnected(reachable);
        })
        .finally(() => (probing = false));
    }, interval);
    this.idleProbe.unref();
  }

  private async probeCluster(): Promise<boolean> {
    try {
      await this.admin.connect();
      await this.admin.describeCluster();
      return true;
    } catch {
      return false;
    }
  }

  private async sendWithRetry(batch: Publication[]): Promise<void> {
    const unknown = batch.length === 1 ? this.knownToBeMissing(batch[0]!) : undefined;
    if (unknown) return batch[0]!.failed(unknown);
    for (let attempt = 1; !this.closing; attempt++) {
      // A send that neither succeeds nor fails would hold every later message silently: say so.
      const silence = setTimeout(
        () => this.options.logger.warn({ attempt, messages: batch.length }, SEND_SILENT),
        SEND_SILENT_MS,
      );
      silence.unref();
      try {
        await this.producer.sendBatch({
          topicMessages: recordsByTopic(batch),
          acks: -1,
          compression: CompressionTypes.None,
        });
        clearTimeout(silence);
        this.setConnected(true);
        for (const publication of batch) publication.confirmed();
        return;
      } catch (error) {
        clearTimeout(silence);
        this.options.onPublishError?.(error);
        const refusal = messageRefusal(error);
        if (refusal) {
          if (batch.length === 1) {
            const rejection = new UndeliverableError(refusal.message, refusal.reason, { cause: error });
            if (refusal.reason === 'unknown_topic_or_partition') {
              this.unknownTopics.set(topicOf(batch[0]!), { at: Date.now(), refusal: rejection });
            }
            batch[0]!.failed(rejection);
            return;
          }
          // Find the refused message(s): resend one by one, still in order.
          for (const publication of batch) await this.sendWithRetry([publication]);
          return;
        }
        if (this.closing) return;
        this.setConnected(false);
        this.options.logger.warn(
          { err: error, attempt, messages: batch.length },
          'kafka: publish failed, retrying',
        );
        await sleep(backoffDelay(attempt, 100, 10_000), this.closed.signal);
      }
    }
  }

  private knownToBeMissing(publication: Publication): UndeliverableError | undefined {
    const topic = topicOf(publication);
    const missing = this.unknownTopics.get(topic);
    if (missing && Date.now() - missing.at < UNKNOWN_TOPIC_MEMORY_MS) return missing.refusal;
    this.unknownTopics.delete(topic);
    return undefined;
  }

  private setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.options.onReadyChange?.(connected);
  }
}

function topicOf(message: SinkMessage): string {
  return (message.destination as KafkaDestination & FormattedDestination).topic;
}
