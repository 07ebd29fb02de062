// Debezium as a baseline (`npm run bench -- --with-debezium`, Kafka only): Kafka Connect standalone
// with the Debezium PostgreSQL connector and its Outbox Event Router (deploy/local/debezium.sh, jars
// from Maven Central cached outside git), reading the bench's outbox and writing to the very topics
// the relay writes (route.topic.replacement = outbox.${routedByValue}), so the bench's counters and
// latency consumer read both the same way. Two profiles: Debezium's defaults, and one tuned for
// throughput and latency (poll interval, batch and queue sizes, the producer's linger).
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { PG_PORT, ROOT } from '../test/kit/services.js';
import { waitFor } from '../test/kit/wait.js';
import type { BenchDatabase } from './database.js';
import { createBenchDatabase, createSlot } from './database.js';
import { latency } from './latency.js';
import type { LatencyRun, OtherParty } from './latency.js';
import { loadBacklog, shape, timeoutFor, uniqueType } from './scenarios.js';
import type { BenchContext } from './scenarios.js';
import { Meter } from './meter.js';
import type { Cost } from './meter.js';
import { promisify } from 'node:util';

export type DebeziumProfile = 'default' | 'tuned';
export const DEBEZIUM_PROFILES: readonly DebeziumProfile[] = ['default', 'tuned'];

/** As deploy/local/env.sh: the version debezium.sh resolves. */
export const DEBEZIUM_VERSION = process.env.DEBEZIUM_VERSION ?? '3.4.3.Final';
const RUN_DIR = process.env.OUTBOX_RELAY_RUN_DIR ?? '/var/tmp/outbox-relay';
const CONNECT_PORT = Number(process.env.OUTBOX_CONNECT_PORT ?? 18083);
const SCRIPT = `${ROOT}/deploy/local/debezium.sh`;
const CONNECTOR = 'bench_outbox';
const run = promisify(execFile);

async function script(...args: string[]): Promise<void> {
  await run('bash', [SCRIPT, ...args], { cwd: ROOT, timeout: 600_000 });
}

/**
 * The tuned profile: Debezium's documented knobs for throughput (max.batch.size 2048 -> 8192,
 * max.queue.size 8192 -> 32768), poll.interval.ms 500 -> 5 (the connector hands batches to Connect at
 * most that often), and the producer's usual batching.
 */
const TUNED: Readonly<Record<string, string>> = {
  'max.batch.size': '8192',
  'max.queue.size': '32768',
  'poll.interval.ms': '5',
  'producer.override.linger.ms': '5',
  'producer.override.batch.size': '262144',
  'producer.override.compression.type': 'none',
};

/** The connector's properties: our table's columns, our publication, the relay's topic names. Pure. */
export function connectorProperties(
  database: string,
  slot: string,
  profile: DebeziumProfile,
  port = PG_PORT,
): string {
  const properties: Record<string, string> = {
    name: CONNECTOR,
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    'tasks.max': '1',
    'database.hostname': '127.0.0.1',
    'database.port': String(port),
    'database.user': 'postgres',
    'database.password': 'postgres',
    'database.dbname': database,
    'topic.prefix': `dbz_${database}`,
    'plugin.name': 'pgoutput',
    'slot.name': slot,
    'publication.name': 'outbox_relay_pub',
    'publication.autocreate.mode': 'disabled',
    'table.include.list': 'public.outbox',
    'snapshot.mode': 'no_data',
    transforms: 'outbox',
    'transforms.outbox.type': 'io.debezium.transforms.outbox.EventRouter',
    'transforms.outbox.table.field.event.id': 'id',
    'transforms.outbox.table.field.event.key': 'aggregate_id',
    'transforms.outbox.table.field.event.payload': 'payload',
    'transforms.outbox.route.by.field': 'aggregate_type',
    'transforms.outbox.route.topic.replacement': 'outbox.${routedByValue}',
    ...(profile === 'tuned' ? TUNED : {}),
  };
  return Object.entries(properties)
    .map(([name, value]) => `${name}=${value}`)
    .join('\n');
}

/** A running Kafka Connect worker with the bench's connector. */
export interface DebeziumProcess {
  readonly pid: number;
  /** performance.now() when the script was asked to start it. */
  readonly spawnedAt: number;
  stop(): Promise<void>;
}

/**
 * Starts Kafka Connect with the connector on `slot` (created beforehand by the caller when the
 * backlog must be in it). Resolves as soon as the JVM's pid is known; `running()` waits for the task.
 */
export async function startDebezium(
  db: BenchDatabase,
  slot: string,
  profile: DebeziumProfile,
): Promise<DebeziumProcess> {
  const dir = `${RUN_DIR}/debezium`;
  mkdirSync(dir, { recursive: true });
  rmSync(`${dir}/offsets.dat`, { force: true });
  rmSync(`${dir}/connect.pid`, { force: true });
  const file = `${dir}/bench-connector.properties`;
  writeFileSync(file, connectorProperties(db.name, slot, profile));
  await script('fetch');
  const spawnedAt = performance.now();
  const starting = spawn('bash', [SCRIPT, 'start', file], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  starting.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  let exitCode: number | null | undefined;
  const started = new Promise<void>((resolve) =>
    starting.on('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  const pidFile = `${dir}/connect.pid`;
  await waitFor(
    () => `Kafka Connect's pid (${errors.trim()})`,
    () =>
      (exitCode !== undefined && exitCode !== 0) ||
      (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== ''),
    { timeoutMs: 60_000, intervalMs: 5 },
  );
  if (exitCode !== undefined && exitCode !== 0) throw new Error(`debezium.sh start failed: ${errors}`);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return {
    pid,
    spawnedAt,
    stop: async () => {
      await started;
      await script('stop');
      await db.monitor
        .query('select pg_drop_replication_slot($1) from pg_replication_slots where slot_name = $1', [slot])
        .catch(() => undefined);
    },
  };
}

/** Waits until the connector's task runs and its slot is active: rows committed now reach it. */
export async function debeziumRunning(db: BenchDatabase, slot: string): Promise<void> {
  await waitFor(
    'the Debezium connector running',
    async () => {
      const response = await fetch(`http://127.0.0.1:${CONNECT_PORT}/connectors/${CONNECTOR}/status`).catch(
        () => undefined,
      );
      if (!response?.ok) return false;
      const status = (await response.json()) as { tasks?: { state: string; trace?: string }[] };
      const task = status.tasks?.[0];
      if (task?.state === 'FAILED') throw new Error(`Debezium task failed: ${task.trace ?? ''}`);
      if (task?.state !== 'RUNNING') return false;
      const { rowCount } = await db.monitor.query(
        'select 1 from pg_replication_slots where slot_name = $1 and active',
        [slot],
      );
      return rowCount === 1;
    },
    { timeoutMs: 180_000, intervalMs: 200 },
  );
}

/** Debezium draining a backlog: from its process start, and from its first message. */
export interface DebeziumBacklog {
  readonly profile: DebeziumProfile;
  readonly events: number;
  /** Process start to the first message at the topic. */
  readonly startupSeconds: number;
  readonly fromStart: { readonly seconds: number; readonly eventsPerSecond: number };
  readonly fromFirstMessage: { readonly seconds: number; readonly eventsPerSecond: number };
  /** From process start to the last message: CPU, peak RSS of the JVM. */
  readonly cost: Cost;
  readonly cpuSecondsPer100k?: number;
}

/**
 * The backlog run: the slot is created, `load()` commits the events, then Kafka Connect starts and
 * the topic is watched until `events` messages arrived.
 */
export async function debeziumBacklog(
  db: BenchDatabase,
  profile: DebeziumProfile,
  events: number,
  load: () => Promise<unknown>,
  delivered: () => Promise<number>,
  timeoutMs: number,
): Promise<DebeziumBacklog> {
  const slot = `${db.slot}_dbz`;
  await createSlot(db, slot);
  await load();
  const debezium = await startDebezium(db, slot, profile);
  try {
    const meter = new Meter({
      postmasterPid: db.postmasterPid,
      processPid: debezium.pid,
      benchBackends: () => [db.monitorPid],
    });
    let firstAt: number | undefined;
    await waitFor(
      () => `Debezium to deliver ${events} events`,
      async () => {
        const count = await delivered();
        if (count > 0) firstAt ??= performance.now();
        return count >= events;
      },
      { timeoutMs, intervalMs: 20 },
    );
    const cost = await meter.stop();
    const end = performance.now();
    const first = firstAt ?? end;
    const span = (from: number): { seconds: number; eventsPerSecond: number } => {
      const seconds = (end - from) / 1000;
      return { seconds: round(seconds, 3), eventsPerSecond: Math.round(events / seconds) };
    };
    return {
      profile,
      events,
      startupSeconds: round((first - debezium.spawnedAt) / 1000, 3),
      fromStart: span(debezium.spawnedAt),
      fromFirstMessage: span(first),
      cost,
      cpuSecondsPer100k:
        cost.processCpuSeconds === undefined
          ? undefined
          : round((cost.processCpuSeconds / events) * 100_000, 3),
    };
  } finally {
    await debezium.stop();
  }
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Debezium's runs in one profile: the backlog, and latency at each offered rate. */
export interface DebeziumResults {
  readonly profile: DebeziumProfile;
  readonly backlog: DebeziumBacklog;
  readonly latency: readonly LatencyRun[];
}

/** Debezium as a party of the latency scenario: its own slot, created by the connector. */
export function debeziumParty(profile: DebeziumProfile): OtherParty {
  return {
    label: `dbz_${profile}`,
    start: async (db) => {
      const slot = `${db.slot}_dbz`;
      const debezium = await startDebezium(db, slot, profile);
      return { pid: debezium.pid, ready: () => debeziumRunning(db, slot), stop: () => debezium.stop() };
    },
  };
}

/** Every Debezium measurement of one profile, on fresh databases and topics. */
export async function benchDebezium(ctx: BenchContext, profile: DebeziumProfile): Promise<DebeziumResults> {
  const { events, txSize, rates } = ctx.options;
  ctx.progress(`Debezium (${profile}): backlog of ${events} events`);
  const db = await createBenchDatabase();
  const type = uniqueType(`dbz_${profile}`);
  let backlog: DebeziumBacklog;
  try {
    await ctx.broker.prepare(type);
    backlog = await debeziumBacklog(
      db,
      profile,
      events,
      () => loadBacklog(ctx, db, shape(ctx, type, events, txSize)),
      () => ctx.broker.delivered(type),
      timeoutFor(events),
    );
  } finally {
    await db.drop();
    await ctx.broker.remove(type);
  }
  ctx.progress(
    `  ${backlog.fromFirstMessage.eventsPerSecond} events/s from its first message ` +
      `(${backlog.fromStart.eventsPerSecond} from process start, first message after ${backlog.startupSeconds} s)`,
  );
  const latencies: LatencyRun[] = [];
  for (const rate of rates) {
    ctx.progress(`Debezium (${profile}): latency at ${rate} events/s`);
    const run = await latency(ctx, rate, debeziumParty(profile));
    ctx.progress(`  p50/p99 ${run.consumed.p50Ms}/${run.consumed.p99Ms} ms`);
    latencies.push(run);
  }
  return { profile, backlog, latency: latencies };
}
