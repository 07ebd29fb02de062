// The results file of one sink (bench/results/<date>-<sink>.json): every measurement, the ratios of
// ours to each baseline, and the targets of the issue checked against them. Pure.
import type { DebeziumResults } from './debezium.js';
import type { SinkName } from './options.js';
import type { LoadResult } from './load.js';
import type { Machine } from './machine.js';
import type { BenchOptions } from './options.js';
import type { ProfileSummary } from './profile.js';
import type { FloorRun, LatencyRun } from './latency.js';
import type { BacklogResult, IdleResult, RawPublish, Throughput } from './scenarios.js';
import { ratio, round } from './stats.js';

export interface ScalingPoint {
  readonly events: number;
  readonly txSize: number;
  /** Relay settings this point changes (e.g. a smaller in-flight window). */
  readonly relayEnv?: Record<string, string>;
  readonly loadEventsPerSecond: number;
  readonly recvlogicalEventsPerSecond?: number;
  readonly relay: Throughput;
}

export interface SinkResults {
  readonly version: 1;
  readonly sink: SinkName;
  readonly date: string;
  readonly command: string;
  readonly machine: Machine;
  readonly options: Omit<
    BenchOptions,
    'sinks' | 'outDir' | 'readme' | 'build' | 'formats' | 'baseline' | 'pairs' | 'withDebezium'
  >;
  /** Set when the sink could not be measured, with the reason. */
  readonly notMeasured?: string;
  readonly backlog?: BacklogResult;
  readonly live?: { load: LoadResult; relay: Throughput; poller: Throughput; pollerLoad: LoadResult };
  readonly raw?: RawPublish;
  /** An empty outbox for a while: the constant cost of each relay. */
  readonly idle?: IdleResult;
  readonly latency?: readonly {
    offeredRate: number;
    relay: LatencyRun;
    poller: LatencyRun;
    /** The same consumer reading messages published straight to the broker (absent in older files). */
    floor?: FloorRun;
  }[];
  readonly scaling?: { backlogs: ScalingPoint[]; txSizes: ScalingPoint[]; windows: ScalingPoint[] };
  readonly profile?: ProfileSummary & { events: number; eventsPerSecond: number };
  /** Debezium beside the relay (`--with-debezium`, Kafka only), per profile. */
  readonly debezium?: readonly DebeziumResults[];
  readonly debeziumVersion?: string;
  readonly ratios: Ratios;
  readonly targets: Target[];
}

export interface Ratios {
  readonly backlogToRecvlogical?: number;
  readonly backlogToRaw?: number;
  readonly backlogToPoller?: number;
  readonly liveToRecvlogical?: number;
  readonly liveToRaw?: number;
  readonly liveToPoller?: number;
  /** PostgreSQL CPU per event, ours / the polling relay's. */
  readonly backlogPostgresCpuToPoller?: number;
  readonly livePostgresCpuToPoller?: number;
  /** p99 latency (consumed), ours / the polling relay's, per offered rate. */
  readonly latencyP99ToPoller?: Record<string, number | undefined>;
  /** p99 latency (consumed), ours minus the consumer's floor, ms, per offered rate. */
  readonly latencyP99AboveFloorMs?: Record<string, number | undefined>;
  /** PostgreSQL CPU per event at each offered rate, ours / the polling relay's. */
  readonly latencyPostgresCpuToPoller?: Record<string, number | undefined>;
  /** pg_recvlogical's PostgreSQL CPU per event / the polling relay's: the floor of any WAL reader. */
  readonly recvlogicalPostgresCpuToPoller?: number;
}

export interface Target {
  readonly id: string;
  readonly description: string;
  readonly measured: string;
  /** Undefined when the run did not measure it. */
  readonly met: boolean | undefined;
}

export function computeRatios(r: Omit<SinkResults, 'ratios' | 'targets'>): Ratios {
  const recv = r.backlog?.recvlogical?.eventsPerSecond;
  const raw = r.raw?.eventsPerSecond;
  return {
    backlogToRecvlogical: ratio(r.backlog?.relay.eventsPerSecond, recv),
    backlogToRaw: ratio(r.backlog?.relay.eventsPerSecond, raw),
    backlogToPoller: ratio(r.backlog?.relay.eventsPerSecond, r.backlog?.poller?.eventsPerSecond),
    liveToRecvlogical: ratio(r.live?.relay.eventsPerSecond, recv),
    liveToRaw: ratio(r.live?.relay.eventsPerSecond, raw),
    liveToPoller: ratio(r.live?.relay.eventsPerSecond, r.live?.poller.eventsPerSecond),
    backlogPostgresCpuToPoller: ratio(
      r.backlog?.relay.per100k.postgresCpuSeconds,
      r.backlog?.poller?.per100k.postgresCpuSeconds,
    ),
    livePostgresCpuToPoller: ratio(
      r.live?.relay.per100k.postgresCpuSeconds,
      r.live?.poller.per100k.postgresCpuSeconds,
    ),
    recvlogicalPostgresCpuToPoller: ratio(
      r.backlog?.recvlogical?.per100k.postgresCpuSeconds,
      r.backlog?.poller?.per100k.postgresCpuSeconds,
    ),
    latencyPostgresCpuToPoller: r.latency
      ? Object.fromEntries(
          r.latency.map(({ offeredRate, relay, poller }) => [
            String(offeredRate),
            ratio(relay.per100k.postgresCpuSeconds, poller.per100k.postgresCpuSeconds),
          ]),
        )
      : undefined,
    latencyP99ToPoller: r.latency
      ? Object.fromEntries(
          r.latency.map(({ offeredRate, relay, poller }) => [
            String(offeredRate),
            ratio(relay.consumed.p99Ms, poller.consumed.p99Ms),
          ]),
        )
      : undefined,
    latencyP99AboveFloorMs: r.latency
      ? Object.fromEntries(
          r.latency.map(({ offeredRate, relay, floor }) => [
            String(offeredRate),
            difference(relay.consumed.p99Ms, floor?.consumed.p99Ms),
          ]),
        )
      : undefined,
  };
}

function difference(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : round(a - b, 2);
}

const percent = (value: number | undefined): string =>
  value === undefined ? 'not measured' : `${Math.round(value * 1000) / 10}%`;

export function evaluateTargets(r: Omit<SinkResults, 'targets'>): Target[] {
  const targets: Target[] = [];
  const { ratios } = r;
  if (r.sink === 'kafka') {
    targets.push({
      id: 'kafka-throughput',
      description: `Kafka throughput at least 60% of the pg_recvlogical ceiling (${r.options.payloadBytes}-byte events, backlog)`,
      measured: `${percent(ratios.backlogToRecvlogical)} (${r.backlog?.relay.eventsPerSecond ?? '?'} vs ${r.backlog?.recvlogical?.eventsPerSecond ?? '?'} events/s)`,
      met: ratios.backlogToRecvlogical === undefined ? undefined : ratios.backlogToRecvlogical >= 0.6,
    });
  } else {
    targets.push({
      id: 'rabbitmq-throughput',
      description: 'RabbitMQ throughput at least 80% of its raw confirmed-publish rate (backlog)',
      measured: `${percent(ratios.backlogToRaw)} (${r.backlog?.relay.eventsPerSecond ?? '?'} vs ${r.raw?.eventsPerSecond ?? '?'} events/s)`,
      met: ratios.backlogToRaw === undefined ? undefined : ratios.backlogToRaw >= 0.8,
    });
  }
  const runAt1000 = r.latency?.find((run) => run.offeredRate === 1000);
  const at1000 = runAt1000?.relay;
  const within = at1000?.relayHistogram?.within25Ms;
  targets.push({
    id: 'latency-p99',
    description: 'p99 commit-to-confirm latency under 25 ms at 1,000 events/s',
    measured: at1000
      ? `${percent(within)} confirmed within 25 ms of the WAL commit (relay histogram); p99 commit sent -> consumed ${at1000.consumed.p99Ms} ms`
      : 'not measured',
    met: within === undefined ? undefined : within >= 0.99,
  });
  const floorAt1000 = runAt1000?.floor;
  const aboveFloor = ratios.latencyP99AboveFloorMs?.['1000'];
  targets.push({
    id: 'latency-p99-floor',
    description:
      "p99 commit → consumed at 1,000 events/s at most 10 ms above the consumer's floor (the same consumer reading messages published straight to the broker)",
    measured:
      at1000 && floorAt1000
        ? `${aboveFloor === undefined ? '?' : aboveFloor < 0 ? `${-aboveFloor} ms below` : `${aboveFloor} ms above`}: outbox-relay p99 ${at1000.consumed.p99Ms} ms, floor p99 ${floorAt1000.consumed.p99Ms} ms`
        : 'not measured',
    met: aboveFloor === undefined ? undefined : aboveFloor <= 10,
  });
  const million = r.scaling?.backlogs.find((point) => point.events >= 1_000_000 && !point.relayEnv);
  const rss = million?.relay.cost.processPeakRssMiB;
  targets.push({
    id: 'relay-rss',
    description: 'relay RSS under 200 MB with a 1,000,000-event backlog',
    measured: rss === undefined ? 'not measured' : `${rss} MiB peak (VmHWM)`,
    met: rss === undefined ? undefined : rss * 1.048576 < 200,
  });
  targets.push({
    id: 'postgres-cpu',
    description: "PostgreSQL CPU per event at most a fifth of the polling relay's",
    measured:
      ratios.backlogPostgresCpuToPoller === undefined
        ? 'not measured'
        : `${percent(ratios.backlogPostgresCpuToPoller)} of the polling relay's (backlog), ${percent(ratios.livePostgresCpuToPoller)} (live), ` +
          Object.entries(ratios.latencyPostgresCpuToPoller ?? {})
            .map(([rate, value]) => `${percent(value)} at ${rate}/s`)
            .join(', ') +
          `; pg_recvlogical alone, decoding the backlog: ${percent(ratios.recvlogicalPostgresCpuToPoller)}`,
    met:
      ratios.backlogPostgresCpuToPoller === undefined
        ? undefined
        : ratios.backlogPostgresCpuToPoller <= 0.2 && (ratios.livePostgresCpuToPoller ?? 0) <= 0.2,
  });
  return targets;
}
