// What @platformatic/kafka's idempotent producer does when the broker goes away (issue 16): publishes
// --count messages in serial batches, stops the local Kafka (deploy/local/kafka.sh stop) once
// --stop-after messages are confirmed (--how kill: SIGKILL, a crash) and starts it again, re-sending a batch whose send failed (as
// the relay's sink does); then reads the topic back with kafkajs and prints what it holds: messages,
// duplicates, and messages that arrived after a later one of their key (reordered).
//   node --import tsx bench/kafka-outage.ts [--count 100000] [--batch 500] [--stop-after 20000]
//     [--how stop|kill]
import { parseArgs } from 'node:util';
import { compatibilityPartitioner, Producer, stringSerializers } from '@platformatic/kafka';
import type { MessageToProduce } from '@platformatic/kafka';
import { createBroker, rawMessageFactory } from './brokers.js';
import { topicOf } from './kafka.js';
import { uniqueType } from './scenarios.js';
import { KAFKA_BROKER, localService } from '../test/kit/services.js';
import { waitFor } from '../test/kit/wait.js';

type Message = MessageToProduce<string, string, string, string>;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '100000' },
      batch: { type: 'string', default: '500' },
      'stop-after': { type: 'string', default: '20000' },
      how: { type: 'string', default: 'stop' },
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
  const producer = new Producer({
    clientId: 'outbox-bench-outage',
    bootstrapBrokers: [KAFKA_BROKER],
    idempotent: true,
    acks: -1,
    partitioner: compatibilityPartitioner,
    serializers: stringSerializers,
  });
  const log = (text: string): void => void process.stdout.write(`${new Date().toISOString()} ${text}\n`);
  let outage: Promise<void> | undefined;
  const failures = new Map<string, number>();
  const started = performance.now();
  try {
    for (let sent = 0; sent < count;) {
      const end = Math.min(count, sent + batchSize);
      const messages: Message[] = [];
      for (let i = sent; i < end; i++) {
        const { key, value, headers } = message(i);
        messages.push({ topic, key, value, headers });
      }
      const at = performance.now();
      try {
        await producer.send({ messages });
      } catch (error) {
        const text = describe(error);
        failures.set(text, (failures.get(text) ?? 0) + 1);
        log(`send of [${sent}, ${end}) failed after ${Math.round(performance.now() - at)} ms: ${text}`);
        continue; // the same batch again, as the relay's sink retries it
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
    `${JSON.stringify({ count, held, read, missing, duplicates, reordered, failures: Object.fromEntries(failures) })}\n`,
  );
}

/** The error's class and message, and those of its causes or inner errors, on one line. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const inner = (error as Error & { errors?: unknown[] }).errors;
  const nested = inner?.length ? ` [${[...new Set(inner.map(describe))].join('; ')}]` : '';
  const cause = error.cause === undefined ? '' : ` (cause: ${describe(error.cause)})`;
  return `${error.name}: ${error.message}${nested}${cause}`;
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
