// What the bench needs from each broker: the relay's environment, a fresh destination per scenario,
// a consumer for latency, the raw publish rate of its client alone, a publisher for the consumer's
// latency floor, and clean-up.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { SinkName } from './options.js';
import { KAFKA_BROKER, RABBITMQ_URL } from '../test/kit/services.js';
import { KafkaBenchBroker } from './kafka.js';
import { RabbitBenchBroker } from './rabbitmq.js';

/** A message as the relay sends it: payload body, aggregate id as key, and the contract's headers. */
export interface RawMessage {
  readonly key: string;
  readonly value: string;
  readonly headers: Record<string, string>;
}

export interface BenchBroker {
  readonly name: SinkName;
  /** Environment that points the relay (and the polling relay) at this broker. */
  readonly relayEnv: Record<string, string>;
  /** PID of the broker's server process, to measure its CPU; undefined when unknown. */
  readonly pid: number | undefined;
  /** Makes the default route's destination for `aggregateType` ready (topic, bound queue). */
  prepare(aggregateType: string): Promise<void>;
  /** Messages the destination of `aggregateType` holds. */
  delivered(aggregateType: string): Promise<number>;
  /** Calls `onPayloads` with the payloads of each delivery batch and performance.now() at arrival. */
  consume(aggregateType: string, onPayloads: (payloads: string[], at: number) => void): Promise<Consumer>;
  /** Publishes `count` messages with the client alone, settings as in our sink; returns seconds. */
  rawPublish(aggregateType: string, count: number, message: (index: number) => RawMessage): Promise<number>;
  /**
   * The client alone with our sink's settings, sending to the destination of `aggregateType` one
   * group of messages at a time as asked (the latency floor, bench/floor.ts).
   */
  publisher(aggregateType: string): Promise<BrokerPublisher>;
  /** Deletes the destination (and what it holds). */
  remove(aggregateType: string): Promise<void>;
  close(): Promise<void>;
}

export interface Consumer {
  stop(): Promise<void>;
}

export interface BrokerPublisher {
  /** Hands `messages` to the client at once; resolves when the broker confirmed them all. */
  send(messages: readonly RawMessage[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Messages shaped like the relay's for events of `payloadBytes` (see load.ts): message `index`'s
 * payload names transaction `tx` (by default its index), as the writers' payloads do.
 */
export function rawMessageFactory(
  aggregateType: string,
  payloadBytes: number,
): (index: number, tx?: number) => RawMessage {
  const pad = 'x'.repeat(Math.max(0, payloadBytes - 27));
  const createdAt = new Date().toISOString();
  return (index, tx = index) => {
    const key = `w${index % 4}-a${index % 50}`;
    return {
      key,
      value: `{"tx": ${tx}, "pad": "${pad}"}`,
      headers: {
        traceparent: `00-${randomUUID().replaceAll('-', '')}-${randomUUID().slice(0, 18).replace('-', '')}-01`,
        id: randomUUID(),
        aggregate_type: aggregateType,
        aggregate_id: key,
        event_type: 'BenchEvent',
        created_at: createdAt,
      },
    };
  };
}

export function pidFromFile(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export async function createBroker(
  name: SinkName,
  runDir: string,
  exactlyOnce = false,
): Promise<BenchBroker> {
  switch (name) {
    case 'kafka':
      return KafkaBenchBroker.create(KAFKA_BROKER, pidFromFile(`${runDir}/kafka/kafka.pid`), exactlyOnce);
    case 'rabbitmq':
      return RabbitBenchBroker.create(RABBITMQ_URL, pidFromFile(`${runDir}/rabbitmq/rabbitmq.pid`));
    default:
      throw new Error(`the bench has no broker called ${JSON.stringify(name)}`);
  }
}
