// Latency at a fixed offered rate: a consumer reads every message of a fresh destination and times
// each from the moment its transaction was sent. The parties: the relay and the polling relay (and
// Debezium, bench/debezium.ts) behind writers committing to PostgreSQL, and the consumer's floor,
// the same consumer reading messages the broker's client publishes straight to the broker
// (bench/floor.ts) at the same rate, in the same shape.
import { waitFor } from '../test/kit/wait.js';
import { createBenchDatabase } from './database.js';
import type { BenchDatabase } from './database.js';
import { FloorPublisher } from './floor.js';
import { transactionOf, Writers } from './load.js';
import type { LoadResult, PacedSource } from './load.js';
import { Meter } from './meter.js';
import type { Cost } from './meter.js';
import { BenchPoller } from './poller-process.js';
import { BenchRelay } from './relay-process.js';
import { costs, shape, timeoutFor, uniqueType } from './scenarios.js';
import type { BenchContext } from './scenarios.js';
import { bucketDelta, histogramQuantile, round, shareAtMost, summarize } from './stats.js';
import type { LatencySummary } from './stats.js';

export interface LatencyRun {
  readonly offeredRate: number;
  readonly load: LoadResult;
  /** Commit sent by the writer -> message consumed, exact (an upper bound of commit -> confirm). */
  readonly consumed: LatencySummary;
  /** The relay's own histogram: WAL commit time -> broker confirmation, interpolated in buckets. */
  readonly relayHistogram?: {
    readonly p50Ms?: number;
    readonly p95Ms?: number;
    readonly p99Ms?: number;
    /** Share of events confirmed within 25 ms of their commit (exact: a bucket bound). */
    readonly within25Ms?: number;
  };
  readonly cost: Cost;
  readonly per100k: { readonly processCpuSeconds?: number; readonly postgresCpuSeconds: number };
}

/** The consumer's floor at one offered rate: no PostgreSQL, no relay. */
export interface FloorRun {
  readonly offeredRate: number;
  readonly load: LoadResult;
  /** Messages handed to the broker's client -> consumed, exact. */
  readonly consumed: LatencySummary;
  /** The window's CPU (the bench process publishes and consumes; the broker's own). */
  readonly cost: Cost;
}

/** Another relay measured in the latency scenario (Debezium): started on the scenario's database. */
export interface OtherParty {
  readonly label: string;
  start(db: BenchDatabase): Promise<{ pid: number; ready(): Promise<void>; stop(): Promise<void> }>;
}

/**
 * What every latency run shares: a consumer on `aggregateType`'s destination (prepared by the caller),
 * a warm-up of `source` at the offered rate that is not counted, then the measured load, until every
 * message is consumed. `measure` is called after the warm-up and returns what ends the measurement
 * once everything was consumed (a meter, the relay's histogram).
 */
async function consumedAtRate<T>(
  ctx: BenchContext,
  aggregateType: string,
  offeredRate: number,
  source: PacedSource,
  measure: () => Promise<() => Promise<T>>,
): Promise<{ load: LoadResult; consumed: LatencySummary; measured: T }> {
  const { options } = ctx;
  let firstMeasuredTx = Number.POSITIVE_INFINITY;
  let consumed = 0;
  const latencies: number[] = [];
  const consumer = await ctx.broker.consume(aggregateType, (payloads, at) => {
    for (const payload of payloads) {
      consumed += 1;
      const tx = transactionOf(payload);
      if (tx >= firstMeasuredTx) latencies.push(at - source.sentAt[tx]!);
    }
  });
  try {
    const warmup = options.warmupSeconds * offeredRate;
    const measured = options.latencySeconds * offeredRate;
    const load = (events: number): Promise<LoadResult> =>
      source.run(shape(ctx, aggregateType, events, options.latencyTxSize, offeredRate));
    await load(warmup);
    firstMeasuredTx = source.sentAt.length;
    const end = await measure();
    const result = await load(measured);
    await waitFor(
      `${warmup + measured} messages consumed (have ${consumed})`,
      () => consumed >= warmup + measured,
      { timeoutMs: timeoutFor(measured), intervalMs: 20 },
    );
    return { load: result, consumed: summarize(latencies), measured: await end() };
  } finally {
    await consumer.stop();
  }
}

/**
 * Latency at a fixed offered rate, for the relay or the polling relay: a consumer reads every message
 * and compares its arrival with the moment its transaction's COMMIT was sent.
 */
export async function latency(
  ctx: BenchContext,
  offeredRate: number,
  party: 'relay' | 'poller' | OtherParty,
): Promise<LatencyRun> {
  const { options } = ctx;
  const db = await createBenchDatabase();
  const type = uniqueType(`latency_${party === 'relay' ? 'r' : party === 'poller' ? 'p' : party.label}`);
  const writers = await Writers.connect(db.url, options.writers);
  await ctx.broker.prepare(type);
  const relay =
    party === 'relay'
      ? new BenchRelay({ databaseUrl: db.url, slot: db.slot, env: ctx.broker.relayEnv })
      : undefined;
  const poller =
    party === 'poller'
      ? await BenchPoller.start({
          databaseUrl: db.url,
          env: ctx.broker.relayEnv,
          batch: options.pollBatch,
          intervalMs: options.pollIntervalMs,
        })
      : undefined;
  const other = typeof party === 'object' ? await party.start(db) : undefined;
  try {
    await relay?.streaming();
    await other?.ready();
    const { load, consumed, measured } = await consumedAtRate(ctx, type, offeredRate, writers, async () => {
      const before = await relay?.endToEnd();
      const meter = new Meter({
        postmasterPid: db.postmasterPid,
        processPid: relay?.pid ?? poller?.pid ?? other!.pid,
        brokerPid: ctx.broker.pid,
        benchBackends: () => [db.monitorPid, ...writers.backendPids],
      });
      return async () => {
        const cost = await meter.stop();
        const after = await relay?.endToEnd();
        return { cost, delta: before && after ? bucketDelta(before, after) : undefined };
      };
    });
    const { cost, delta } = measured;
    const ms = (seconds: number | undefined): number | undefined =>
      round(seconds === undefined ? undefined : seconds * 1000, 1);
    return {
      offeredRate,
      load,
      consumed,
      relayHistogram: delta && {
        p50Ms: ms(histogramQuantile(0.5, delta)),
        p95Ms: ms(histogramQuantile(0.95, delta)),
        p99Ms: ms(histogramQuantile(0.99, delta)),
        within25Ms: round(shareAtMost(0.025, delta), 4),
      },
      cost,
      per100k: costs(cost, options.latencySeconds * offeredRate),
    };
  } finally {
    await relay?.stop();
    await poller?.stop();
    await other?.stop();
    await writers.close();
    await db.drop();
    await ctx.broker.remove(type);
  }
}

/**
 * The consumer's floor at a fixed offered rate: the same consumer reading messages that the broker's
 * client, with our sink's settings, publishes straight to the broker in the latency runs' shape.
 */
export async function floor(ctx: BenchContext, offeredRate: number): Promise<FloorRun> {
  const { options } = ctx;
  const type = uniqueType('latency_floor');
  await ctx.broker.prepare(type);
  const publisher = await FloorPublisher.open(ctx.broker, type, options.payloadBytes, options.writers);
  try {
    const { load, consumed, measured } = await consumedAtRate(ctx, type, offeredRate, publisher, () => {
      const meter = new Meter({ brokerPid: ctx.broker.pid, benchBackends: () => [] });
      return Promise.resolve(() => meter.stop());
    });
    return { offeredRate, load, consumed, cost: measured };
  } finally {
    await publisher.close();
    await ctx.broker.remove(type);
  }
}
