// A consumer of routes written as CloudEvents (`format: cloudevents` or `cloudevents-structured`,
// docs/formats.md), reading them with the official CloudEvents SDK: from Kafka through its Kafka
// binding, which detects binary and structured mode itself; from RabbitMQ through its event
// constructor (the SDK has no AMQP binding: the `cloudEvents_` headers of binary mode, or the
// structured body). It prints each event's attributes; a real service deduplicates on the
// CloudEvent id as the other consumers do on the event id (dedup.ts).
//
//   npm run example:cloudevents-consumer                        Kafka topic EXAMPLE_TOPIC (example.orders)
//   EXAMPLE_BROKER=rabbitmq npm run example:cloudevents-consumer queue EXAMPLE_QUEUE (cloudevents)
//                                                               bound to EXAMPLE_EXCHANGE (outbox) with order.*
import amqp from 'amqplib';
import type { ConsumeMessage } from 'amqplib';
import { CloudEvent, Kafka as CloudEventsKafka } from 'cloudevents';
import type { KafkaMessage as CloudEventsKafkaMessage } from 'cloudevents';
import { Kafka, logLevel } from 'kafkajs';
import type { KafkaMessage } from 'kafkajs';
import { KAFKA_BROKERS, RABBITMQ_URL, say } from '../env.js';

const BROKER = process.env.EXAMPLE_BROKER ?? 'kafka';
const TOPIC = process.env.EXAMPLE_TOPIC ?? 'example.orders';
const EXCHANGE = process.env.EXAMPLE_EXCHANGE ?? 'outbox';
const QUEUE = process.env.EXAMPLE_QUEUE ?? 'cloudevents';
const AMQP_PREFIX = 'cloudEvents_';

function show(event: CloudEvent<unknown>): void {
  event.validate();
  say(
    `${event.type} ${event.id} subject ${event.subject} from ${event.source} at ${event.time}: ${JSON.stringify(event.data)}`,
  );
}

/** The SDK's Kafka binding reads both modes: ce_ headers (binary) or a cloudevents+json value. */
function fromKafka(message: KafkaMessage): CloudEvent<unknown> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
  const value = message.value?.toString() ?? '';
  const received: CloudEventsKafkaMessage<string> = {
    key: message.key?.toString() ?? '',
    value,
    headers,
    body: value,
  };
  const event = CloudEventsKafka.toEvent(received) as CloudEvent<unknown> | CloudEvent<unknown>[];
  if (Array.isArray(event)) throw new Error('a batch of events: not written by the relay');
  return event;
}

/** The AMQP binding by hand: the structured body, or the cloudEvents_ headers and content type. */
function fromAmqp(message: ConsumeMessage): CloudEvent<unknown> {
  const contentType = message.properties.contentType as string | undefined;
  const body = message.content.toString();
  if (contentType?.startsWith('application/cloudevents+json'))
    return new CloudEvent(JSON.parse(body) as Record<string, unknown>);
  const attributes: Record<string, unknown> = { datacontenttype: contentType };
  for (const [name, value] of Object.entries(message.properties.headers ?? {}))
    if (name.startsWith(AMQP_PREFIX)) attributes[name.slice(AMQP_PREFIX.length)] = String(value);
  return new CloudEvent({ ...attributes, data: JSON.parse(body) as unknown });
}

async function consumeKafka(): Promise<() => Promise<void>> {
  const kafka = new Kafka({
    clientId: 'cloudevents-example',
    brokers: KAFKA_BROKERS,
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC }], waitForLeaders: true });
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: 'cloudevents-example', maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
  await consumer.run({ eachMessage: ({ message }) => Promise.resolve(show(fromKafka(message))) });
  say(`consuming Kafka topic ${TOPIC}`);
  return () => consumer.disconnect();
}

async function consumeRabbitMq(): Promise<() => Promise<void>> {
  const connection = await amqp.connect(RABBITMQ_URL);
  const channel = await connection.createChannel();
  await channel.assertExchange(EXCHANGE, 'topic', { durable: true });
  await channel.assertQueue(QUEUE, { durable: true });
  await channel.bindQueue(QUEUE, EXCHANGE, 'order.*');
  await channel.consume(QUEUE, (message) => {
    if (message === null) return;
    show(fromAmqp(message));
    channel.ack(message);
  });
  say(`consuming queue ${QUEUE} bound to ${EXCHANGE} with order.*`);
  return async () => {
    await channel.close();
    await connection.close();
  };
}

async function main(): Promise<void> {
  const stop = BROKER === 'rabbitmq' ? await consumeRabbitMq() : await consumeKafka();
  const shutdown = (): void => void stop().then(() => say('stopped'));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `cloudevents consumer failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exitCode = 1;
  process.exit();
});
