// The client-alone baseline with @platformatic/kafka (issue 16) in place of kafkajs: the same messages
// and batches as KafkaBenchBroker.rawPublish, an idempotent producer with acks from all in-sync
// replicas, and each batch acknowledged before the next leaves (the relay's sink sends one at a time).
//
// Its idempotent producer forces one request in flight per connection (maxInflights = 1) and
// advances a partition's sequence only when a produce answers, so `inFlight` > 1 (sends overlapping)
// hands the broker two batches with the same base sequence: the bench reports how many messages the
// topic then holds, rather than assuming they all arrived.
import { compatibilityPartitioner, Producer, stringSerializers } from '@platformatic/kafka';
import type { MessageToProduce } from '@platformatic/kafka';
import type { RawMessage } from './brokers.js';
import { timedBatches } from './timed-batches.js';

type Message = MessageToProduce<string, string, string, string>;

export interface PlatformaticPublish {
  readonly broker: string;
  readonly topic: string;
  readonly count: number;
  readonly message: (index: number) => RawMessage;
  readonly batchSize?: number;
  /** Batches sent before the oldest must be acknowledged; 1 is the relay's shape. */
  readonly inFlight?: number;
}

/** Publishes `count` messages in serial batches; returns the seconds the batches took. */
export async function platformaticRawPublish({
  broker,
  topic,
  count,
  message,
  batchSize = 2_000,
  inFlight = 1,
}: PlatformaticPublish): Promise<number> {
  const producer = new Producer({
    clientId: 'outbox-bench',
    bootstrapBrokers: [broker],
    idempotent: true,
    acks: -1,
    // kafkajs' DefaultPartitioner (Java's murmur2, sign bit masked): the keys land where kafkajs puts
    // them. @platformatic/kafka's own default takes the hash unsigned, which spreads keys otherwise.
    partitioner: compatibilityPartitioner,
    serializers: stringSerializers,
  });
  const toKafka = ({ key, value, headers }: RawMessage): Message => ({ topic, key, value, headers });
  try {
    return await timedBatches({ count, batchSize, inFlight, message }, toKafka, (messages) =>
      producer.send({ messages }),
    );
  } finally {
    await producer.close();
  }
}

/** The error's class and message, and those of its causes or inner errors, on one line. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const inner = (error as Error & { errors?: unknown[] }).errors;
  const nested = inner?.length ? ` [${[...new Set(inner.map(describeError))].join('; ')}]` : '';
  const cause = error.cause === undefined ? '' : ` (cause: ${describeError(error.cause)})`;
  return `${error.name}: ${error.message}${nested}${cause}`;
}
