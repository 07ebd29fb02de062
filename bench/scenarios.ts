// The scenarios: a backlog (events in the WAL before the relay starts), live load, an idle outbox,
// and the baselines (pg_recvlogical, the broker client alone, the polling relay), each on a fresh
// database and destination with the same generated events. Latency at a fixed offered rate, with
// the consumer's floor, is in latency.ts.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { currentWalLsn, dropSlotIfExists, ROOT } from '../test/kit/services.js';
import { waitFor } from '../test/kit/wait.js';
import type { BenchBroker } from './brokers.js';
import { createBenchDatabase, createSlot, outboxRows } from './database.js';
import type { BenchDatabase } from './database.js';
import { Writers } from './load.js';
import type { LoadResult, LoadShape } from './load.js';
import { Meter } from './meter.js';
import { cpuSeconds } from './proc.js';
import type { Cost } from './meter.js';
import type { BenchOptions } from './options.js';
import { BenchPoller } from './poller-process.js';
import { startRecvLogical } from './recvlogical.js';
import { BenchRelay } from './relay-process.js';
import type { MemorySample } from './relay-process.js';
import { per100k, rate, round } from './stats.js';

export const PUBLICATION = 'outbox_relay_pub';

const run = promisify(execFile);

export interface BenchContext {
  readonly options: BenchOptions;
  readonly broker: BenchBroker;
  readonly progress: (message: string) => void;
}

/** One party's run over a set of events: how long, how fast, at what cost. */
export interface Throughput {
  readonly events: number;
  /** From streaming (or ready, or the first commit for live load) to the last row completed. */
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly cost: Cost;
  readonly per100k: { readonly processCpuSeconds?: number; readonly postgresCpuSeconds: number };
  /** Messages found at the destination afterwards (at least `events`; more means duplicates). */
  readonly delivered?: number;
  /** Relay only: spawn to streaming, and the CPU that took. */
  readonly startupSeconds?: number;
  readonly startupCpuSeconds?: number;
  /** Relay only: memory peaks from its own metrics. */
  readonly memory?: MemorySample;
}

export interface BacklogResult {
  readonly load: LoadResult;
  readonly recvlogical?: Throughput;
  readonly relay: Throughput;
  readonly poller?: Throughput;
}

export function uniqueType(label: string): string {
  return `bench_${label}_${randomBytes(3).toString('hex')}`;
}

export function shape(
  ctx: BenchContext,
  aggregateType: string,
  events: number,
  txSize: number,
  eventsPerSecond?: number,
): LoadShape {
  const { payloadBytes, writers } = ctx.options;
  return { aggregateType, events, txSize, payloadBytes, writers, eventsPerSecond };
}

export function costs(cost: Cost, events: number): Throughput['per100k'] {
  return {
    processCpuSeconds:
      cost.processCpuSeconds === undefined ? undefined : per100k(cost.processCpuSeconds, events),
    postgresCpuSeconds: per100k(cost.postgresCpuSeconds, events)!,
  };
}

/** Commits `events` with fresh writers, then VACUUM ANALYZE, so every run starts from the same state. */
export async function loadBacklog(
  ctx: BenchContext,
  db: BenchDatabase,
  load: LoadShape,
): Promise<LoadResult> {
  const writers = await Writers.connect(db.url, ctx.options.writers);
  try {
    const result = await writers.run(load);
    ctx.progress(`  loaded ${result.events} events in ${result.seconds} s (${result.eventsPerSecond}/s)`);
    return result;
  } finally {
    await writers.close();
    await db.monitor.query('vacuum analyze outbox');
  }
}

/** Waits until the slot's confirmed position reached `lsn`: every event before it is completed. */
async function slotReached(db: BenchDatabase, slot: string, lsn: string, timeoutMs: number): Promise<void> {
  await waitFor(
    `slot ${slot} confirmed past ${lsn}`,
    async () => {
      const { rows } = await db.monitor.query<{ done: boolean }>(
        `select confirmed_flush_lsn >= $2::pg_lsn as done from pg_replication_slots where slot_name = $1`,
        [slot, lsn],
      );
      return rows[0]?.done === true;
    },
    { timeoutMs, intervalMs: 20 },
  );
}

export function timeoutFor(events: number): number {
  return 300_000 + events; // generous: 1 ms per event on top of five minutes
}

async function runRelay(
  ctx: BenchContext,
  db: BenchDatabase,
  aggregateType: string,
  events: number,
  until: () => Promise<void>,
  extra: {
    benchBackends?: () => number[];
    cpuProfileDir?: string;
    relayEnv?: Record<string, string>;
    relayEntry?: string;
    beforeWait?: () => Promise<unknown>;
  } = {},
): Promise<Throughput> {
  const relay = new BenchRelay({
    databaseUrl: db.url,
    slot: db.slot,
    env: { ...ctx.broker.relayEnv, ...extra.relayEnv },
    cpuProfileDir: extra.cpuProfileDir,
    entry: extra.relayEntry,
  });
  try {
    const startupSeconds = await relay.streaming();
    const startupCpu = cpuSeconds(relay.pid);
    const meter = new Meter({
      postmasterPid: db.postmasterPid,
      processPid: relay.pid,
      brokerPid: ctx.broker.pid,
      benchBackends: () => [db.monitorPid, ...(extra.benchBackends?.() ?? [])],
    });
    const memory = relay.sampleMemory();
    await extra.beforeWait?.();
    await until();
    const cost = await meter.stop();
    const memorySample = await memory();
    const problems = relay.problems();
    if (problems.length > 0) ctx.progress(`  relay warnings:\n    ${problems.slice(0, 5).join('\n    ')}`);
    const left = await outboxRows(db);
    if (left !== 0) throw new Error(`the relay finished with ${left} rows left in the outbox`);
    return {
      events,
      seconds: cost.seconds,
      eventsPerSecond: rate(events, cost.seconds),
      cost,
      per100k: costs(cost, events),
      delivered: await ctx.broker.delivered(aggregateType),
      startupSeconds: round(startupSeconds, 3),
      startupCpuSeconds: round(startupCpu, 2),
      memory: memorySample,
    };
  } finally {
    await relay.stop();
  }
}

async function runPoller(
  ctx: BenchContext,
  db: BenchDatabase,
  aggregateType: string,
  events: number,
  extra: { benchBackends?: () => number[]; beforeWait?: () => Promise<unknown> } = {},
): Promise<Throughput> {
  const poller = await BenchPoller.start({
    databaseUrl: db.url,
    env: ctx.broker.relayEnv,
    batch: ctx.options.pollBatch,
    intervalMs: ctx.options.pollIntervalMs,
  });
  try {
    const meter = new Meter({
      postmasterPid: db.postmasterPid,
      processPid: poller.pid,
      brokerPid: ctx.broker.pid,
      benchBackends: () => [db.monitorPid, ...(extra.benchBackends?.() ?? [])],
    });
    await extra.beforeWait?.();
    await waitFor(`the polling relay to complete ${events} events`, () => poller.completed >= events, {
      timeoutMs: timeoutFor(events),
      intervalMs: 5,
    });
    const cost = await meter.stop();
    return {
      events,
      seconds: cost.seconds,
      eventsPerSecond: rate(events, cost.seconds),
      cost,
      per100k: costs(cost, events),
      delivered: await ctx.broker.delivered(aggregateType),
    };
  } finally {
    await poller.stop();
  }
}

/**
 * Events already in the WAL when the relay starts: the relay's slot (and pg_recvlogical's) exist
 * before the load. pg_recvlogical then decodes that range, the relay drains it, and the polling
 * relay drains the same number of freshly loaded rows.
 */
export async function backlog(
  ctx: BenchContext,
  events: number,
  txSize: number,
  parts: {
    recvlogical: boolean;
    poller: boolean;
    cpuProfileDir?: string;
    /** Relay settings for this run (e.g. a smaller in-flight window). */
    relayEnv?: Record<string, string>;
    /** Another build's CLI (bench/baseline.ts) instead of the working tree's bin/outbox-relay. */
    relayEntry?: string;
  },
): Promise<BacklogResult> {
  const db = await createBenchDatabase();
  const types: string[] = [];
  try {
    const relayType = uniqueType('backlog');
    types.push(relayType);
    await ctx.broker.prepare(relayType);
    const recvSlot = `${db.slot}_recv`;
    await createSlot(db, db.slot);
    if (parts.recvlogical) await createSlot(db, recvSlot);
    const load = await loadBacklog(ctx, db, shape(ctx, relayType, events, txSize));
    const endLsn = await currentWalLsn(db.monitor);

    let recvlogical: Throughput | undefined;
    if (parts.recvlogical) {
      const recv = startRecvLogical(db.name, recvSlot, endLsn, PUBLICATION);
      const meter = new Meter({
        postmasterPid: db.postmasterPid,
        processPid: recv.pid,
        exitingChild: true,
        benchBackends: () => [db.monitorPid],
      });
      await recv.done;
      const cost = await meter.stop(500);
      await dropSlotIfExists(db.monitor, recvSlot);
      recvlogical = {
        events,
        seconds: cost.seconds,
        eventsPerSecond: rate(events, cost.seconds),
        cost,
        per100k: costs(cost, events),
      };
      ctx.progress(`  pg_recvlogical: ${recvlogical.eventsPerSecond} events/s`);
    }

    const relay = await runRelay(
      ctx,
      db,
      relayType,
      events,
      () => slotReached(db, db.slot, endLsn, timeoutFor(events)),
      { cpuProfileDir: parts.cpuProfileDir, relayEnv: parts.relayEnv, relayEntry: parts.relayEntry },
    );
    ctx.progress(`  relay: ${relay.eventsPerSecond} events/s, peak RSS ${relay.cost.processPeakRssMiB} MiB`);
    await dropSlotIfExists(db.monitor, db.slot);

    let poller: Throughput | undefined;
    if (parts.poller) {
      const pollerType = uniqueType('backlog_poll');
      types.push(pollerType);
      await ctx.broker.prepare(pollerType);
      await loadBacklog(ctx, db, shape(ctx, pollerType, events, txSize));
      poller = await runPoller(ctx, db, pollerType, events);
      ctx.progress(`  polling relay: ${poller.eventsPerSecond} events/s`);
    }
    return { load, recvlogical, relay, poller };
  } finally {
    await db.drop();
    for (const type of types) await ctx.broker.remove(type);
  }
}

/** Live load: the relay (then the polling relay) runs while the writers commit as fast as they can. */
export async function live(
  ctx: BenchContext,
  events: number,
): Promise<{ load: LoadResult; relay: Throughput; poller: Throughput; pollerLoad: LoadResult }> {
  const db = await createBenchDatabase();
  const types = [uniqueType('live'), uniqueType('live_poll')];
  const [relayType, pollerType] = types as [string, string];
  const writers = await Writers.connect(db.url, ctx.options.writers);
  try {
    await ctx.broker.prepare(relayType);
    let load: LoadResult | undefined;
    const relay = await runRelay(
      ctx,
      db,
      relayType,
      events,
      async () => {
        load = await writers.run(shape(ctx, relayType, events, ctx.options.txSize));
        await slotReached(db, db.slot, await currentWalLsn(db.monitor), timeoutFor(events));
      },
      { benchBackends: () => writers.backendPids },
    );
    ctx.progress(`  relay: ${relay.eventsPerSecond} events/s (writers committed ${load!.eventsPerSecond}/s)`);
    await dropSlotIfExists(db.monitor, db.slot);

    await ctx.broker.prepare(pollerType);
    let pollerLoad: LoadResult | undefined;
    const poller = await runPoller(ctx, db, pollerType, events, {
      benchBackends: () => writers.backendPids,
      beforeWait: async () =>
        (pollerLoad = await writers.run(shape(ctx, pollerType, events, ctx.options.txSize))),
    });
    ctx.progress(`  polling relay: ${poller.eventsPerSecond} events/s`);
    return { load: load!, relay, poller, pollerLoad: pollerLoad! };
  } finally {
    await writers.close();
    await db.drop();
    for (const type of types) await ctx.broker.remove(type);
  }
}

export interface RawPublish {
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  /** CPU seconds of the publishing process per 100,000 messages. */
  readonly clientCpuSecondsPer100k: number | undefined;
  readonly brokerCpuSecondsPer100k: number | undefined;
}

/**
 * The broker's client alone publishing as many messages shaped like the relay's, in a process of its
 * own (bench/raw-publish.ts).
 */
export async function rawPublish(ctx: BenchContext, events: number): Promise<RawPublish> {
  const type = uniqueType('raw');
  await ctx.broker.prepare(type);
  try {
    const args = ['--sink', ctx.broker.name, '--type', type, '--count', String(events)];
    args.push('--payload-bytes', String(ctx.options.payloadBytes));
    const meter = new Meter({ brokerPid: ctx.broker.pid, benchBackends: () => [] });
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/raw-publish.ts', ...args], {
      cwd: ROOT,
      env: process.env,
    });
    const cost = await meter.stop();
    const { seconds, cpuSeconds } = JSON.parse(stdout) as { seconds: number; cpuSeconds: number };
    return {
      events,
      seconds: round(seconds, 3)!,
      eventsPerSecond: rate(events, seconds),
      clientCpuSecondsPer100k: per100k(cpuSeconds, events),
      // The broker's CPU over the whole window (process start included: it is idle then).
      brokerCpuSecondsPer100k:
        cost.brokerCpuSeconds === undefined ? undefined : per100k(cost.brokerCpuSeconds, events),
    };
  } finally {
    await ctx.broker.remove(type);
  }
}

export interface IdleResult {
  readonly seconds: number;
  readonly relay: Cost;
  readonly poller: Cost;
}

/**
 * Nothing to publish: what the relay (streaming, with its heartbeats) and the polling relay (a poll
 * every interval) cost PostgreSQL and themselves while the outbox stays empty.
 */
export async function idle(ctx: BenchContext, seconds: number): Promise<IdleResult> {
  const db = await createBenchDatabase();
  try {
    const measure = async (pid: number): Promise<Cost> => {
      const meter = new Meter({
        postmasterPid: db.postmasterPid,
        processPid: pid,
        brokerPid: ctx.broker.pid,
        benchBackends: () => [db.monitorPid],
      });
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      return meter.stop();
    };
    const relay = new BenchRelay({ databaseUrl: db.url, slot: db.slot, env: ctx.broker.relayEnv });
    let relayCost: Cost;
    try {
      await relay.streaming();
      relayCost = await measure(relay.pid);
    } finally {
      await relay.stop();
    }
    await dropSlotIfExists(db.monitor, db.slot);
    const poller = await BenchPoller.start({
      databaseUrl: db.url,
      env: ctx.broker.relayEnv,
      batch: ctx.options.pollBatch,
      intervalMs: ctx.options.pollIntervalMs,
    });
    try {
      return { seconds, relay: relayCost, poller: await measure(poller.pid) };
    } finally {
      await poller.stop();
    }
  } finally {
    await db.drop();
  }
}
