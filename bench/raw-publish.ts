// The broker's client alone, in a process of its own (its CPU is this process's): publishes --count
// messages shaped like the relay's to the destination of --type, which the bench prepared, and prints
// {"seconds": s, "cpuSeconds": c, "delivered": d} (c: this process's CPU during the publishing; d: the
// messages the destination then holds, the untimed warm-up message included).
//   node --import tsx bench/raw-publish.ts --sink kafka --type T --count N --payload-bytes B
// Kafka only: --client kafkajs (stock kafkajs, the default), relay (the relay's own sink through
// createPublisher: kafkajs with the relay's produce encoder), platformatic (@platformatic/kafka) or
// kafka-ts; --in-flight K lets those two send K batches before the oldest is acknowledged (default 1).
// brokers.js (kafkajs) loads only after the relay's publisher is open: see kafka-relay-sink.ts.
import { parseArgs } from 'node:util';
import type { BenchBroker, RawMessage } from './brokers.js';
import { openRelayPublisher, relaySinkRawPublish } from './kafka-relay-sink.js';
import type { SinkName } from './options.js';
import { selfCpuSeconds } from './proc.js';
import { KAFKA_BROKER } from '../test/kit/services.js';

const CLIENTS = ['kafkajs', 'relay', 'platformatic', 'kafka-ts'] as const;
type Client = (typeof CLIENTS)[number];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sink: { type: 'string' },
      type: { type: 'string' },
      count: { type: 'string' },
      'payload-bytes': { type: 'string' },
      client: { type: 'string', default: 'kafkajs' },
      'in-flight': { type: 'string', default: '1' },
    },
  });
  const client = values.client as Client;
  if (!CLIENTS.includes(client)) throw new Error(`--client: one of ${CLIENTS.join(', ')}`);
  if (client !== 'kafkajs' && values.sink !== 'kafka') throw new Error(`--client ${client}: Kafka only`);
  const publisher = client === 'relay' ? await openRelayPublisher(KAFKA_BROKER) : undefined;
  const { createBroker, rawMessageFactory } = await import('./brokers.js');
  const broker = await createBroker(
    values.sink as SinkName,
    process.env.OUTBOX_RELAY_RUN_DIR ?? '/var/tmp/outbox-relay',
  );
  try {
    const type = values.type!;
    const count = Number(values.count);
    const message = rawMessageFactory(type, Number(values['payload-bytes']));
    const cpuBefore = selfCpuSeconds();
    const inFlight = Number(values['in-flight']);
    const seconds =
      client === 'relay'
        ? await relaySinkRawPublish({ publisher: publisher!, aggregateType: type, count, message })
        : await publish(client, broker, type, count, message, inFlight);
    const cpuSeconds = selfCpuSeconds() - cpuBefore;
    const delivered = await broker.delivered(type);
    process.stdout.write(`${JSON.stringify({ seconds, cpuSeconds, delivered })}\n`);
  } finally {
    await broker.close();
  }
}

async function publish(
  client: Exclude<Client, 'relay'>,
  broker: BenchBroker,
  type: string,
  count: number,
  message: (index: number) => RawMessage,
  inFlight: number,
): Promise<number> {
  switch (client) {
    case 'kafkajs':
      return broker.rawPublish(type, count, message);
    case 'platformatic': {
      const [{ platformaticRawPublish }, { topicOf }] = await Promise.all([
        import('./kafka-platformatic.js'),
        import('./kafka.js'),
      ]);
      return platformaticRawPublish({ broker: KAFKA_BROKER, topic: topicOf(type), count, message, inFlight });
    }
    case 'kafka-ts': {
      const [{ kafkaTsRawPublish }, { topicOf }] = await Promise.all([
        import('./kafka-ts.js'),
        import('./kafka.js'),
      ]);
      return kafkaTsRawPublish({ broker: KAFKA_BROKER, topic: topicOf(type), count, message, inFlight });
    }
  }
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    // @platformatic/kafka's errors nest the broker's answers (AggregateError.errors, cause).
    const { describeError } = await import('./kafka-platformatic.js');
    process.stderr.write(`raw-publish: ${describeError(error)}\n`);
    process.exit(1);
  },
);
