// What the schema'd-format consumers (avro, protobuf, json-schema) share: a Kafka consumer of
// EXAMPLE_TOPIC (example.orders) from the beginning, group EXAMPLE_GROUP_ID, that hands each message
// to `handle` and stops on Ctrl-C or SIGTERM.
import { Kafka, logLevel } from 'kafkajs';
import type { KafkaMessage } from 'kafkajs';
import { KAFKA_BROKERS, say } from '../env.js';

export const TOPIC = process.env.EXAMPLE_TOPIC ?? 'example.orders';

/** A header's text (kafkajs hands Buffers). */
export function header(message: KafkaMessage, name: string): string {
  const value = message.headers?.[name];
  return Array.isArray(value) ? String(value[0]) : String(value ?? '');
}

/** Runs until a signal; a message `handle` throws on stops the consumer (and the process, exit 1). */
export function consumeTopic(name: string, handle: (message: KafkaMessage) => void): void {
  const run = async (): Promise<void> => {
    const kafka = new Kafka({ clientId: name, brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC }], waitForLeaders: true });
    await admin.disconnect();
    const consumer = kafka.consumer({ groupId: process.env.EXAMPLE_GROUP_ID ?? name, maxWaitTimeInMs: 100 });
    consumer.on(consumer.events.CRASH, ({ payload }) => fail(payload.error));
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    await consumer.run({ eachMessage: ({ message }) => Promise.resolve(handle(message)) });
    say(`consuming Kafka topic ${TOPIC}`);
    const shutdown = (): void => void consumer.disconnect().then(() => say('stopped'));
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  };
  const fail = (error: unknown): void => {
    process.stderr.write(`${name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  };
  run().catch(fail);
}
