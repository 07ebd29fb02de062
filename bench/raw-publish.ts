// The broker's client alone, in a process of its own (its CPU is this process's): publishes --count
// messages shaped like the relay's to the destination of --type, which the bench prepared, and prints
// {"seconds": s, "cpuSeconds": c} (c: this process's CPU during the publishing).
//   node --import tsx bench/raw-publish.ts --sink kafka --type T --count N --payload-bytes B
import { parseArgs } from 'node:util';
import { createBroker, rawMessageFactory } from './brokers.js';
import type { SinkName } from './options.js';
import { selfCpuSeconds } from './proc.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sink: { type: 'string' },
      type: { type: 'string' },
      count: { type: 'string' },
      'payload-bytes': { type: 'string' },
    },
  });
  const broker = await createBroker(
    values.sink as SinkName,
    process.env.OUTBOX_RELAY_RUN_DIR ?? '/var/tmp/outbox-relay',
  );
  try {
    const type = values.type!;
    const cpuBefore = selfCpuSeconds();
    const seconds = await broker.rawPublish(
      type,
      Number(values.count),
      rawMessageFactory(type, Number(values['payload-bytes'])),
    );
    process.stdout.write(`${JSON.stringify({ seconds, cpuSeconds: selfCpuSeconds() - cpuBefore })}\n`);
  } finally {
    await broker.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `raw-publish: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
