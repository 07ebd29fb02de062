// npm run bench -- [options]: brings up the local services, measures the relay against its baselines
// on each broker, and writes bench/results/<date>-<sink>.json, an SVG plot and bench/README.md's
// results. See bench/README.md and `npm run bench -- --help`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import type { SinkName } from './options.js';
import { adminQuery, ensureServices, ROOT } from '../test/kit/services.js';
import { createBroker } from './brokers.js';
import { compareWithBaseline } from './baseline.js';
import { benchDebezium, DEBEZIUM_PROFILES, DEBEZIUM_VERSION } from './debezium.js';
import { compareFormats } from './formats.js';
import { describeMachine } from './machine.js';
import type { Machine } from './machine.js';
import { parseOptions, UsageError } from './options.js';
import type { BenchOptions } from './options.js';
import { plotSvg } from './plot.js';
import { readProfile } from './profile.js';
import { postgresBin } from './recvlogical.js';
import { updateReadme } from './readme.js';
import { machineMarkdown, sinkMarkdown } from './report.js';
import { computeRatios, evaluateTargets } from './results.js';
import type { ScalingPoint, SinkResults } from './results.js';
import { floor, latency } from './latency.js';
import { backlog, idle, live, rawPublish } from './scenarios.js';
import type { BenchContext } from './scenarios.js';

const RUN_DIR = process.env.OUTBOX_RELAY_RUN_DIR ?? '/var/tmp/outbox-relay';
const startedAt = performance.now();

function progress(message: string): void {
  const seconds = Math.round((performance.now() - startedAt) / 1000);
  const clock = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
  process.stderr.write(`[bench ${clock}] ${message}\n`);
}

/** Databases and slots an interrupted run left behind (the bench's names start with bench_). */
async function dropLeftovers(): Promise<void> {
  const { rows } = await adminQuery(`select datname from pg_database where datname like 'bench\\_%'`);
  for (const { datname } of rows as { datname: string }[]) {
    await adminQuery(
      `select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = $1 and not active`,
      [datname],
    );
    await adminQuery(`drop database if exists ${datname} with (force)`);
  }
}

async function scaling(ctx: BenchContext): Promise<SinkResults['scaling']> {
  const { options } = ctx;
  const point = async (
    events: number,
    txSize: number,
    relayEnv?: Record<string, string>,
  ): Promise<ScalingPoint> => {
    const result = await backlog(ctx, events, txSize, {
      recvlogical: relayEnv === undefined,
      poller: false,
      relayEnv,
    });
    return {
      events,
      txSize,
      relayEnv,
      loadEventsPerSecond: result.load.eventsPerSecond,
      recvlogicalEventsPerSecond: result.recvlogical?.eventsPerSecond,
      relay: result.relay,
    };
  };
  const backlogs: ScalingPoint[] = [];
  for (const events of options.backlogs) {
    ctx.progress(`scaling: backlog of ${events} events`);
    backlogs.push(await point(events, options.txSize));
  }
  const txSizes: ScalingPoint[] = [];
  for (const txSize of options.txSizes) {
    ctx.progress(`scaling: ${options.scalingEvents} events in transactions of ${txSize}`);
    txSizes.push(await point(options.scalingEvents, txSize));
  }
  const windows: ScalingPoint[] = [];
  const largest = Math.max(0, ...options.backlogs);
  for (const window of largest > 0 ? options.windows : []) {
    ctx.progress(`scaling: backlog of ${largest} events with OUTBOX_MAX_IN_FLIGHT=${window}`);
    windows.push(await point(largest, options.txSize, { OUTBOX_MAX_IN_FLIGHT: String(window) }));
  }
  return { backlogs, txSizes, windows };
}

async function profile(ctx: BenchContext): Promise<SinkResults['profile']> {
  const dir = `${ROOT}/bench/results/tmp/profile-${Date.now()}`;
  mkdirSync(dir, { recursive: true });
  const events = Math.min(ctx.options.events, 200_000);
  ctx.progress(`profile: backlog of ${events} events under node --cpu-prof`);
  const result = await backlog(ctx, events, ctx.options.txSize, {
    recvlogical: false,
    poller: false,
    cpuProfileDir: dir,
  });
  const file = readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .sort((a, b) => statSync(`${dir}/${b}`).mtimeMs - statSync(`${dir}/${a}`).mtimeMs)[0];
  if (!file) return undefined;
  const summary = readProfile(`${dir}/${file}`);
  rmSync(dir, { recursive: true, force: true });
  return { ...summary, events, eventsPerSecond: result.relay.eventsPerSecond };
}

async function benchSink(
  sink: SinkName,
  options: BenchOptions,
  machine: Machine,
  date: string,
  command: string,
  first: boolean,
): Promise<SinkResults> {
  const base = {
    version: 1 as const,
    sink,
    date,
    command,
    machine,
    options: {
      events: options.events,
      txSize: options.txSize,
      payloadBytes: options.payloadBytes,
      writers: options.writers,
      rates: options.rates,
      latencySeconds: options.latencySeconds,
      warmupSeconds: options.warmupSeconds,
      latencyTxSize: options.latencyTxSize,
      backlogs: options.backlogs,
      txSizes: options.txSizes,
      scalingEvents: options.scalingEvents,
      windows: options.windows,
      pollBatch: options.pollBatch,
      pollIntervalMs: options.pollIntervalMs,
      profile: options.profile,
      quick: options.quick,
      exactlyOnce: options.exactlyOnce,
    },
  };
  let broker;
  try {
    broker = await createBroker(sink, RUN_DIR, options.exactlyOnce);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    progress(`${sink}: not measured: ${reason}`);
    const partial = { ...base, notMeasured: reason, ratios: {} };
    return { ...partial, targets: evaluateTargets(partial) };
  }
  const ctx: BenchContext = { options, broker, progress: (message) => progress(`${sink}: ${message}`) };
  try {
    ctx.progress(`backlog of ${options.events} events: pg_recvlogical, outbox-relay, polling relay`);
    const backlogResult = await backlog(ctx, options.events, options.txSize, {
      recvlogical: true,
      poller: true,
    });
    ctx.progress(`live load of ${options.events} events: outbox-relay, polling relay`);
    const liveResult = await live(ctx, options.events);
    ctx.progress(`${sink} client alone: ${options.events} messages`);
    const raw = await rawPublish(ctx, options.events);
    ctx.progress(`  ${raw.eventsPerSecond} messages/s`);
    ctx.progress('idle for 20 s: outbox-relay, then the polling relay');
    const idleResult = await idle(ctx, options.quick ? 3 : 20);
    const latencies = [];
    for (const rate of options.rates) {
      ctx.progress(`latency at ${rate} events/s: outbox-relay`);
      const relay = await latency(ctx, rate, 'relay');
      ctx.progress(`  p50/p99 ${relay.consumed.p50Ms}/${relay.consumed.p99Ms} ms; polling relay`);
      const poller = await latency(ctx, rate, 'poller');
      ctx.progress(`  p50/p99 ${poller.consumed.p50Ms}/${poller.consumed.p99Ms} ms; the consumer's floor`);
      const floorRun = await floor(ctx, rate);
      ctx.progress(`  p50/p99 ${floorRun.consumed.p50Ms}/${floorRun.consumed.p99Ms} ms`);
      latencies.push({ offeredRate: rate, relay, poller, floor: floorRun });
    }
    const debezium = [];
    if (options.withDebezium && sink === 'kafka')
      for (const profile of DEBEZIUM_PROFILES) debezium.push(await benchDebezium(ctx, profile));
    const scaled = first ? await scaling(ctx) : undefined;
    const profiled = options.profile ? await profile(ctx) : undefined;
    const measured = {
      ...base,
      backlog: backlogResult,
      live: liveResult,
      raw,
      idle: idleResult,
      latency: latencies,
      scaling: scaled,
      profile: profiled,
      ...(debezium.length > 0 ? { debezium, debeziumVersion: DEBEZIUM_VERSION } : {}),
    };
    const withRatios = { ...measured, ratios: computeRatios(measured) };
    return { ...withRatios, targets: evaluateTargets(withRatios) };
  } finally {
    await broker.close();
  }
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError) && !(error instanceof TypeError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return error.message.startsWith('Usage:') ? 0 : 2;
  }
  const command = [
    'npm run bench',
    ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : []),
  ].join(' ');
  if (options.build) {
    progress('building dist/ (npm run build)');
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  progress('starting the local services (deploy/local/up.sh)');
  await ensureServices();
  await dropLeftovers();
  const machine = describeMachine(postgresBin());
  const date = new Date().toISOString();
  const day = date.slice(0, 10);
  const outDir = `${ROOT}/${options.outDir}`;
  mkdirSync(outDir, { recursive: true });
  if (options.baseline !== undefined) {
    await compareWithBaseline(options, options.baseline, { date, command, runDir: RUN_DIR, progress });
    progress('done');
    return 0;
  }
  if (options.formats.length > 0) {
    await compareFormats(options, { date, command, runDir: RUN_DIR, progress });
    progress('done');
    return 0;
  }
  const results: SinkResults[] = [];
  for (const [index, sink] of options.sinks.entries()) {
    const result = await benchSink(sink, options, machine, date, command, index === 0);
    results.push(result);
    const name = `${day}-${sink}${options.exactlyOnce ? '-exactly-once' : ''}`;
    writeFileSync(`${outDir}/${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
    progress(`wrote ${options.outDir}/${name}.json`);
  }
  const plot = `${day}${options.exactlyOnce ? '-exactly-once' : ''}.svg`;
  writeFileSync(`${outDir}/${plot}`, plotSvg(results));
  progress(`wrote ${options.outDir}/${plot}`);
  const markdown = [machineMarkdown(results[0]!), ...results.map(sinkMarkdown)].join('\n\n');
  process.stdout.write(`\n${markdown}\n`);
  if (options.readme) {
    const readme = `${ROOT}/bench/README.md`;
    const text = updateReadme(readFileSync(readme, 'utf8'), { results, day, command, markdown });
    // Formatted as `npm run lint` expects (prettier --check), tables aligned.
    const config = await resolveConfig(readme);
    writeFileSync(readme, await format(text, { ...config, filepath: readme }));
    progress('updated bench/README.md');
  }
  progress('done');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
