// Markdown tables of the results, for the console and bench/README.md. Pure.
import type { SinkResults, ScalingPoint } from './results.js';
import type { RawPublish, Throughput } from './scenarios.js';
import { round } from './stats.js';
import { ms, n, otherLoad, table } from './markdown.js';
import { debeziumMarkdown } from './report-debezium.js';
import { latencyMarkdown } from './report-latency.js';

const x = (value: number | undefined): string => (value === undefined ? '–' : `${value.toFixed(2)}×`);

export function sinkMarkdown(r: SinkResults): string {
  const title = r.sink === 'kafka' ? 'Kafka' : 'RabbitMQ';
  if (r.notMeasured) return `### ${title}\n\nNot measured: ${r.notMeasured}\n`;
  const cores = r.machine.cores;
  const parts: string[] = [`### ${title}`];
  const b = r.backlog;
  const l = r.live;
  parts.push(
    `Throughput, events/s (${n(r.options.events)} events of ${r.options.payloadBytes} bytes, transactions of ${r.options.txSize}, ${r.options.writers} writers):`,
    table(
      [
        'scenario',
        'outbox-relay',
        'pg_recvlogical',
        `${r.sink === 'kafka' ? 'kafkajs' : 'amqplib'} alone`,
        'polling relay',
        'ours / pg_recvlogical',
        'ours / client alone',
        'ours / polling',
        'other load',
      ],
      [
        [
          'backlog (in the WAL before start)',
          n(b?.relay.eventsPerSecond),
          n(b?.recvlogical?.eventsPerSecond),
          n(r.raw?.eventsPerSecond),
          n(b?.poller?.eventsPerSecond),
          x(r.ratios.backlogToRecvlogical),
          x(r.ratios.backlogToRaw),
          x(r.ratios.backlogToPoller),
          otherLoad(b?.relay.cost, cores),
        ],
        [
          `live (writers at full speed: ${n(l?.load.eventsPerSecond)}/s)`,
          n(l?.relay.eventsPerSecond),
          '',
          '',
          n(l?.poller.eventsPerSecond),
          x(r.ratios.liveToRecvlogical),
          x(r.ratios.liveToRaw),
          x(r.ratios.liveToPoller),
          otherLoad(l?.relay.cost, cores),
        ],
      ],
    ),
  );
  const costRow = (label: string, t: Throughput | undefined): string[] => [
    label,
    ms(t?.per100k.processCpuSeconds),
    ms(t?.cost.processPeakRssMiB),
    ms(t?.per100k.postgresCpuSeconds),
    ms(
      t?.cost.brokerCpuSeconds === undefined
        ? undefined
        : round((t.cost.brokerCpuSeconds * 100_000) / t.events, 3),
    ),
  ];
  const client = r.sink === 'kafka' ? 'kafkajs' : 'amqplib';
  const rawRow = (label: string, raw: RawPublish | undefined): string[] => [
    label,
    ms(raw?.clientCpuSecondsPer100k),
    '–',
    '–',
    ms(raw?.brokerCpuSecondsPer100k),
  ];
  parts.push(
    'Cost per 100,000 events (CPU seconds; PostgreSQL = its server processes, the load writers excluded):',
    table(
      ['run', 'process CPU s', 'process peak RSS MiB', 'PostgreSQL CPU s', 'broker CPU s'],
      [
        costRow('outbox-relay, backlog', b?.relay),
        costRow('polling relay, backlog', b?.poller),
        costRow('pg_recvlogical, backlog', b?.recvlogical),
        costRow('outbox-relay, live', l?.relay),
        costRow('polling relay, live', l?.poller),
        rawRow(`${client} alone`, r.raw),
      ],
    ),
  );
  if (r.idle) {
    const perMinute = (value: number | undefined): string =>
      value === undefined ? '–' : String(round((value * 60) / r.idle!.seconds, 2));
    parts.push(
      `Idle (an empty outbox for ${r.idle.seconds} s), CPU seconds per minute:`,
      table(
        ['relay', 'process CPU s/min', 'PostgreSQL CPU s/min'],
        [
          [
            'outbox-relay',
            perMinute(r.idle.relay.processCpuSeconds),
            perMinute(r.idle.relay.postgresCpuSeconds),
          ],
          [
            `polling relay (a poll every ${r.options.pollIntervalMs} ms)`,
            perMinute(r.idle.poller.processCpuSeconds),
            perMinute(r.idle.poller.postgresCpuSeconds),
          ],
        ],
      ),
    );
  }
  if (r.latency?.length) parts.push(latencyMarkdown(r));
  if (r.scaling) {
    const row = (label: string, p: ScalingPoint): string[] => [
      label,
      n(p.events),
      n(p.txSize),
      n(p.loadEventsPerSecond),
      n(p.recvlogicalEventsPerSecond),
      n(p.relay.eventsPerSecond),
      x(p.recvlogicalEventsPerSecond ? p.relay.eventsPerSecond / p.recvlogicalEventsPerSecond : undefined),
      ms(p.relay.cost.processPeakRssMiB),
      p.relay.memory
        ? `${p.relay.memory.heapTotalMiB} / ${p.relay.memory.heapUsedMinMiB} / ${p.relay.memory.externalMiB}`
        : '–',
      ms(p.relay.per100k.processCpuSeconds),
      ms(p.relay.startupSeconds),
      otherLoad(p.relay.cost, cores),
    ];
    const envLabel = (p: ScalingPoint): string =>
      Object.entries(p.relayEnv ?? {})
        .map(([key, value]) => `${key}=${value}`)
        .join(' ');
    parts.push(
      'Scaling (backlogs; outbox-relay alone):',
      table(
        [
          'curve',
          'events',
          'tx size',
          'load/s',
          'pg_recvlogical/s',
          'outbox-relay/s',
          'ours / pg_recvlogical',
          'peak RSS MiB',
          'V8 heap peak / heap in use, least / external MiB',
          'relay CPU s /100k',
          'start s',
          'other load',
        ],
        [
          ...r.scaling.backlogs.map((p) => row('backlog size', p)),
          ...r.scaling.txSizes.map((p) => row('transaction size', p)),
          ...r.scaling.windows.map((p) => row(envLabel(p), p)),
        ],
      ),
    );
  }
  if (r.profile) {
    parts.push(
      `Where the relay's CPU goes (node --cpu-prof over a ${n(r.profile.events)}-event backlog at ${n(r.profile.eventsPerSecond)} events/s, self time):`,
      table(
        ['code', 'share'],
        r.profile.byPackage
          .slice(0, 8)
          .map((entry) => [entry.name, `${Math.round(entry.share * 1000) / 10}%`]),
      ),
      table(
        ['function', 'where', 'share'],
        r.profile.topFunctions
          .slice(0, 12)
          .map((f) => [f.name, `\`${f.where}\``, `${Math.round(f.share * 1000) / 10}%`]),
      ),
    );
  }
  if (r.debezium) parts.push(debeziumMarkdown(r));
  parts.push(
    'Targets:',
    table(
      ['target', 'measured', 'met'],
      r.targets.map((t) => [
        t.description,
        t.measured,
        t.met === undefined ? 'not measured' : t.met ? 'yes' : 'no',
      ]),
    ),
  );
  return parts.join('\n\n') + '\n';
}

export function machineMarkdown(r: SinkResults): string {
  const m = r.machine;
  return table(
    [
      'date',
      'CPU',
      'cores',
      'memory',
      'kernel',
      'Node.js',
      'PostgreSQL',
      'Kafka',
      'RabbitMQ',
      'load average at start',
    ],
    [
      [
        r.date.slice(0, 16).replace('T', ' ') + ' UTC',
        m.cpu,
        String(m.cores),
        `${m.memoryGiB} GiB`,
        m.kernel,
        m.node,
        m.postgres,
        m.kafka,
        m.rabbitmq,
        m.loadAverageAtStart.join(' '),
      ],
    ],
  );
}
