// The Debezium table of a Kafka run (`--with-debezium`): outbox-relay and Debezium's two profiles
// side by side, from the same run. Pure.
import type { SinkResults } from './results.js';

const n = (value: number | undefined): string => (value === undefined ? '–' : value.toLocaleString('en-US'));

export function debeziumMarkdown(r: SinkResults): string {
  const runs = r.debezium ?? [];
  const relay = r.backlog?.relay;
  const fromStart =
    relay?.startupSeconds === undefined
      ? undefined
      : Math.round(relay.events / (relay.startupSeconds + relay.seconds));
  const rows: [string, string | number | undefined, ...(string | number | undefined)[]][] = [
    [
      'start: process start to streaming (relay) / to the first message (Debezium), s',
      relay?.startupSeconds,
      ...runs.map((d) => d.backlog.startupSeconds),
    ],
    [
      'backlog, events/s from streaming / from the first message',
      n(relay?.eventsPerSecond),
      ...runs.map((d) => n(d.backlog.fromFirstMessage.eventsPerSecond)),
    ],
    [
      'backlog, events/s from process start',
      n(fromStart),
      ...runs.map((d) => n(d.backlog.fromStart.eventsPerSecond)),
    ],
    [
      'backlog, process CPU s per 100k events (relay: while streaming; Debezium: from process start)',
      relay?.per100k.processCpuSeconds,
      ...runs.map((d) => d.backlog.cpuSecondsPer100k),
    ],
    [
      'backlog, peak RSS MiB',
      relay?.cost.processPeakRssMiB,
      ...runs.map((d) => d.backlog.cost.processPeakRssMiB),
    ],
    ...(r.latency ?? []).map(({ offeredRate, relay: ours }, index): [string, string, ...string[]] => [
      `${n(offeredRate)} events/s: p50 / p99 commit → consumed, ms`,
      `${ours.consumed.p50Ms ?? '–'} / ${ours.consumed.p99Ms ?? '–'}`,
      ...runs.map((d) => {
        const run = d.latency[index];
        return run ? `${run.consumed.p50Ms ?? '–'} / ${run.consumed.p99Ms ?? '–'}` : '–';
      }),
    ]),
  ];
  const header = ['measure', 'outbox-relay', ...runs.map((d) => `Debezium (${d.profile})`)];
  const ratios = runs.map((d) => {
    const ours = relay?.eventsPerSecond;
    const theirs = d.backlog.fromFirstMessage.eventsPerSecond;
    return ours && theirs ? `${(ours / theirs).toFixed(2)}× Debezium (${d.profile})` : undefined;
  });
  return [
    `outbox-relay and Debezium ${r.debeziumVersion ?? ''} (Kafka Connect standalone, PostgreSQL connector, Outbox Event Router) on the same database, broker and events, in this run:`,
    [
      `| ${header.join(' | ')} |`,
      `| ${header.map(() => '---').join(' | ')} |`,
      ...rows.map((row) => `| ${row.map((cell) => (cell === undefined ? '–' : String(cell))).join(' | ')} |`),
    ].join('\n'),
    `Backlog throughput, each from its first message: outbox-relay ${ratios.filter(Boolean).join(', ')}.`,
  ].join('\n\n');
}
