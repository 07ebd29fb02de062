// What an idempotent producer does when the broker goes away (issue 16), @platformatic/kafka's or
// (--client kafka-ts) kafka-ts': publishes
// --count messages in serial batches, stops the local Kafka (deploy/local/kafka.sh stop) once
// --stop-after messages are confirmed (--how kill: SIGKILL, a crash) and starts it again, re-sending a batch whose send failed (as
// the relay's sink does); then reads the topic back with kafkajs and prints what it holds: messages,
// duplicates, and messages that arrived after a later one of their key (reordered). The failures
// are counted by error.
//   node --import tsx bench/kafka-outage.ts [--count 100000] [--batch 500] [--stop-after 20000]
//     [--how stop|kill] [--client platformatic|kafka-ts]
import { parseArgs } from 'node:util';
import { compatibilityPartitioner, Producer, stringSerializers } from '@platformatic/kafka';
import { setTimeout as delay } from 'node:timers/promises';
import { createKafkaClient, setLogger } from 'kafka-ts';
import { describeError } from './kafka-platformatic.js';
import { createBroker, rawMessageFactory } from './brokers.js';
import type { RawMessage } from './brokers.js';
import { topicOf } from './kafka.js';
import { uniqueType } from './scenarios.js';
import { KAFKA_BROKER, localService } from '../test/kit/services.js';
import { waitFor } from '../test/kit/wait.js';

interface Sender {
  send(topic: string, messages: readonly RawMessage[]): Promise<unknown>;
  close(): Promise<void>;
}

/** The client's idempotent producer, with its defaults otherwise (retries, delays). */
function sender(client: string): Sender {
  if (client === 'kafka-ts') {
    // Its warnings (one per refused connection) would drown the outcome; the failures are counted.
    setLogger({
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    });
    const [host, port] = KAFKA_BROKER.split(':') as [string, string];
    const kafka = createKafkaClient({
      clientId: 'outbox-bench-outage',
      bootstrapServers: [{ host, port: Number(port) }],
    });
    const producer = kafka.createProducer({});
    return {
      send: (topic, messages) =>
        producer.send(messages.map(({ key, value, headers }) => ({ topic, key, value, headers }))),
      close: () => producer.close(),
    };
  }
  const producer = new Producer({
    clientId: 'outbox-bench-outage',
    bootstrapBrokers: [KAFKA_BROKER],
    idempotent: true,
    acks: -1,
    partitioner: compatibilityPartitioner,
    serializers: stringSerializers,
  });
  return {
    send: (topic, messages) =>
      producer.send({
        messages: messages.map(({ key, value, headers }) => ({ topic, key, value, headers })),
      }),
    close: () => producer.close(),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '100000' },
      batch: { type: 'string', default: '500' },
      'stop-after': { type: 'string', default: '20000' },
      how: { type: 'string', default: 'stop' },
      client: { type: 'string', default: 'platformatic' },
    },
  });
  const how = values.how === 'kill' ? 'kill' : 'stop';
  const [count, batchSize, stopAfter] = [values.count, values.batch, values['stop-after']].map(Number) as [
    number,
    number,
    number,
  ];
  const broker = await createBroker('kafka', process.env.OUTBOX_RELAY_RUN_DIR ?? '/var/tmp/outbox-relay');
  const type = uniqueType('outage');
  await broker.prepare(type);
  const topic = topicOf(type);
  const message = rawMessageFactory(type, 300);
  const producer = sender(values.client);
  const log = (text: string): void => void process.stdout.write(`${new Date().toISOString()} ${text}\n`);
  let outage: Promise<void> | undefined;
  const failures = new Map<string, number>();
  const started = performance.now();
  try {
    for (let sent = 0; sent < count;) {
      const end = Math.min(count, sent + batchSize);
      const messages: RawMessage[] = [];
      for (let i = sent; i < end; i++) messages.push(message(i));
      const at = performance.now();
      try {
        await producer.send(topic, messages);
      } catch (error) {
        const text = describeError(error);
        failures.set(text, (failures.get(text) ?? 0) + 1);
        log(`send of [${sent}, ${end}) failed after ${Math.round(performance.now() - at)} ms: ${text}`);
        // The same batch again after a pause, as the relay's sink retries it (its backoff starts at 200 ms).
        await delay(200);
        continue;
      }
      if (performance.now() - at > 1_000)
        log(`send of [${sent}, ${end}) took ${Math.round(performance.now() - at)} ms`);
      sent = end;
      if (outage === undefined && sent >= stopAfter) {
        log(`${sent} confirmed: kafka.sh ${how}`);
        outage = localService('kafka', how).then(async () => {
          log('Kafka stopped; starting it');
          await localService('kafka', 'start');
          log('Kafka started');
        });
      }
    }
    log(`all ${count} confirmed after ${Math.round(performance.now() - started)} ms`);
    await outage;
  } finally {
    await producer.close();
  }
  const seen = new Map<number, number>(); // tx -> times read
  const highest = new Map<string, number>(); // key -> highest tx read
  let reordered = 0;
  let read = 0;
  const consumer = await broker.consume(type, (payloads) => {
    for (const payload of payloads) {
      read++;
      const tx = (JSON.parse(payload) as { tx: number }).tx;
      const key = message(tx).key;
      seen.set(tx, (seen.get(tx) ?? 0) + 1);
      if (seen.get(tx) === 1 && tx < (highest.get(key) ?? -1)) reordered++;
      highest.set(key, Math.max(tx, highest.get(key) ?? -1));
    }
  });
  const held = await broker.delivered(type);
  await waitFor(`${held} messages read`, () => read >= held, { timeoutMs: 120_000 });
  await consumer.stop();
  await broker.remove(type);
  await broker.close();
  const missing = count - [...seen.keys()].filter((tx) => tx < count).length;
  const duplicates = read - seen.size;
  process.stdout.write(
    `${JSON.stringify({ client: values.client, how, count, held, read, missing, duplicates, reordered, failures: Object.fromEntries(failures) })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `kafka-outage: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
