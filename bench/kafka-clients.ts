// Kafka clients side by side (issue 16): the client-alone baseline (raw-publish.ts) with each --client
// in turn, round after round, each run on a fresh topic of the bench's shape (3 partitions), with the
// one-minute load average before it (the machine may be shared). Prints one JSON line per run, then
// the medians per client.
//   node --import tsx bench/kafka-clients.ts [--rounds 3] [--count 200000] [--payload-bytes 300]
//     [--clients kafkajs,platformatic,relay] [--in-flight 1]
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs, promisify } from 'node:util';
import { createBroker } from './brokers.js';
import { uniqueType } from './scenarios.js';
import { per100k, rate } from './stats.js';
import { ROOT } from '../test/kit/services.js';

const run = promisify(execFile);

interface Run {
  readonly round: number;
  readonly client: string;
  readonly load1: number;
  readonly messagesPerSecond: number;
  readonly cpuSecondsPer100k: number;
  readonly delivered: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      count: { type: 'string', default: '200000' },
      'payload-bytes': { type: 'string', default: '300' },
      clients: { type: 'string', default: 'kafkajs,platformatic' },
      'in-flight': { type: 'string', default: '1' },
    },
  });
  const count = Number(values.count);
  const broker = await createBroker('kafka', process.env.OUTBOX_RELAY_RUN_DIR ?? '/var/tmp/outbox-relay');
  const runs: Run[] = [];
  try {
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const client of values.clients.split(',')) {
        const type = uniqueType('client');
        await broker.prepare(type);
        try {
          const load1 = loadavg()[0]!;
          const args = ['--sink', 'kafka', '--type', type, '--count', String(count)];
          args.push('--payload-bytes', values['payload-bytes'], '--client', client);
          args.push('--in-flight', values['in-flight']);
          const done = await run(process.execPath, ['--import', 'tsx', 'bench/raw-publish.ts', ...args], {
            cwd: ROOT,
            env: process.env,
            maxBuffer: 16 * 1024 * 1024,
          }).catch((error: Error & { stderr?: string }) => error);
          if (done instanceof Error) {
            // A client that fails (e.g. overlapping sends it refuses) is reported; the rounds go on.
            const failed = {
              round,
              client,
              load1,
              delivered: await broker.delivered(type),
              error: done.stderr?.trim(),
            };
            process.stdout.write(`${JSON.stringify(failed)}\n`);
            continue;
          }
          const { stdout, stderr } = done;
          if (stderr.trim() !== '') process.stderr.write(`${client}: ${stderr}`);
          const out = JSON.parse(stdout) as { seconds: number; cpuSeconds: number; delivered: number };
          const result: Run = {
            round,
            client,
            load1: Math.round(load1 * 100) / 100,
            messagesPerSecond: rate(count, out.seconds),
            cpuSecondsPer100k: per100k(out.cpuSeconds, count)!,
            delivered: out.delivered,
          };
          runs.push(result);
          process.stdout.write(`${JSON.stringify(result)}\n`);
        } finally {
          await broker.remove(type);
        }
      }
    }
  } finally {
    await broker.close();
  }
  for (const client of values.clients.split(',')) {
    const mine = runs.filter((r) => r.client === client);
    process.stdout.write(
      `${client}: median ${median(mine.map((r) => r.messagesPerSecond))} messages/s, ` +
        `${median(mine.map((r) => r.cpuSecondsPer100k))} CPU-s/100k over ${mine.length} runs\n`,
    );
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `kafka-clients: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
