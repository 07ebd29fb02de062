// The latency table of a sink's results: per offered rate, the relay, the polling relay and the
// consumer's floor (the same consumer reading messages published straight to the broker). Pure.
import type { FloorRun, LatencyRun } from './latency.js';
import { ms, n, otherLoad, table } from './markdown.js';
import type { SinkResults } from './results.js';
import { round } from './stats.js';

const triple = (s: { p50Ms?: number; p95Ms?: number; p99Ms?: number }): string =>
  `${ms(s.p50Ms)} / ${ms(s.p95Ms)} / ${ms(s.p99Ms)}`;

export function latencyMarkdown(r: SinkResults): string {
  const cores = r.machine.cores;
  const partyRow = (offeredRate: number, label: string, run: LatencyRun, floor?: FloorRun): string[] => [
    n(offeredRate),
    label,
    n(run.load.eventsPerSecond),
    triple(run.consumed),
    ms(
      run.consumed.p99Ms === undefined || floor?.consumed.p99Ms === undefined
        ? undefined
        : round(run.consumed.p99Ms - floor.consumed.p99Ms, 2),
    ),
    run.relayHistogram ? triple(run.relayHistogram) : '',
    run.relayHistogram?.within25Ms === undefined
      ? ''
      : `${Math.round(run.relayHistogram.within25Ms * 1000) / 10}%`,
    ms(run.per100k.processCpuSeconds),
    ms(run.per100k.postgresCpuSeconds),
    otherLoad(run.cost, cores),
  ];
  const floorRow = (floor: FloorRun): string[] => [
    n(floor.offeredRate),
    'consumer floor (client → broker → consumer)',
    n(floor.load.eventsPerSecond),
    triple(floor.consumed),
    '',
    '',
    '',
    '–',
    '–',
    otherLoad(floor.cost, cores),
  ];
  const rows = (r.latency ?? []).flatMap(({ offeredRate, relay, poller, floor }) => [
    partyRow(offeredRate, 'outbox-relay', relay, floor),
    partyRow(offeredRate, 'polling relay', poller, floor),
    ...(floor ? [floorRow(floor)] : []),
  ]);
  return [
    `Latency at fixed offered rates (${r.options.latencySeconds} s measured after a ${r.options.warmupSeconds} s warm-up, transactions of ${r.options.latencyTxSize}). ` +
      '"commit → consumed" is exact, from the moment COMMIT was sent to the message reaching a consumer (an upper bound of commit → confirm); ' +
      '"consumer floor" is the same consumer reading messages that the broker\'s client alone, with our sink\'s settings, publishes straight to the broker at the same rate in transactions of the same size, timed from the moment each transaction is handed to the client; ' +
      '"relay histogram" is the relay\'s own `outbox_relay_end_to_end_seconds` (WAL commit timestamp → broker confirmation), interpolated within its buckets:',
    table(
      [
        'offered/s',
        'relay',
        'sent/s',
        'commit → consumed p50 / p95 / p99 ms',
        'p99 above the floor ms',
        'relay histogram p50 / p95 / p99 ms',
        '≤ 25 ms',
        'process CPU s /100k',
        'PostgreSQL CPU s /100k',
        'other load',
      ],
      rows,
    ),
  ].join('\n\n');
}
