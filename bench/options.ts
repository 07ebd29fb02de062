// The bench's command line -> options. Pure.
import { parseArgs } from 'node:util';

/** The brokers the bench measures (the relay's sinks). */
export type SinkName = 'kafka' | 'rabbitmq';

export interface BenchOptions {
  readonly sinks: readonly SinkName[];
  /** Events per throughput scenario (backlog, live, raw publish, polling relay). */
  readonly events: number;
  readonly txSize: number;
  readonly payloadBytes: number;
  readonly writers: number;
  /** Offered rates of the latency runs, events per second. */
  readonly rates: readonly number[];
  readonly latencySeconds: number;
  readonly warmupSeconds: number;
  readonly latencyTxSize: number;
  /** Scaling curve (first sink only): backlog sizes, and transaction sizes over scalingEvents. */
  readonly backlogs: readonly number[];
  readonly txSizes: readonly number[];
  readonly scalingEvents: number;
  /** Other in-flight windows (OUTBOX_MAX_IN_FLIGHT) tried on the largest backlog: the memory lever. */
  readonly windows: readonly number[];
  readonly pollBatch: number;
  readonly pollIntervalMs: number;
  /** Profile the relay (node --cpu-prof) on one backlog run and summarise where its time goes. */
  readonly profile: boolean;
  readonly build: boolean;
  /** Where the JSON and SVG go; quick runs write to bench/results/tmp (not committed). */
  readonly outDir: string;
  /** Rewrite the results section of bench/README.md. */
  readonly readme: boolean;
  readonly quick: boolean;
  /** KAFKA_EXACTLY_ONCE=true for the relay: Kafka only, results in <day>-kafka-exactly-once.json. */
  readonly exactlyOnce: boolean;
  /**
   * Message formats (OUTBOX_FORMAT) to compare on the backlog scenario, relay alone; when given, the
   * bench runs only that comparison (bench/formats.ts).
   */
  readonly formats: readonly string[];
  /**
   * A git ref whose relay is built apart and measured against the working tree's, alternately on the
   * same backlog, `pairs` times; when given, the bench runs only that comparison (bench/baseline.ts).
   */
  readonly baseline: string | undefined;
  readonly pairs: number;
  /** Run Debezium (defaults and tuned) beside the relay on Kafka (bench/debezium.ts). */
  readonly withDebezium: boolean;
}

/** The relay's formats (src/formats/registry.ts), checked here before any backlog is loaded. */
export const FORMAT_NAMES = [
  'native',
  'cloudevents',
  'cloudevents-structured',
  'debezium',
  'avro',
  'protobuf',
  'json-schema',
] as const;

export const USAGE = `Usage: npm run bench -- [options]

Brings up the local PostgreSQL, Kafka and RabbitMQ, runs the relay (bin/outbox-relay) and its baselines
on the same events, prints a table and writes bench/results/<date>-<sink>.json and an SVG plot.

  --sink kafka|rabbitmq|all   brokers to measure (default all)
  --events N                  events per throughput scenario (default 200000)
  --tx-size N                 events per transaction (default 100)
  --payload-bytes N           payload size (default 300)
  --writers N                 concurrent writers (default 4)
  --rates A,B                 offered rates for latency, events/s (default 1000,10000)
  --latency-seconds N         measured seconds per rate, after a warm-up (default 20)
  --latency-tx-size N         events per transaction in latency runs (default 10)
  --backlogs A,B,C            scaling: backlog sizes (default 10000,100000,1000000)
  --tx-sizes A,B,C            scaling: transaction sizes (default 1,10,100,10000)
  --scaling-events N          scaling: events per transaction-size point (default 100000)
  --windows A,B               scaling: OUTBOX_MAX_IN_FLIGHT values tried on the largest backlog (default 20000,5000)
  --no-scaling                skip the scaling curve
  --poll-batch N              polling relay: rows per poll (default 1000)
  --poll-interval-ms N        polling relay: sleep after an empty poll (default 10)
  --no-profile                skip the profiled run (node --cpu-prof)
  --no-build                  use dist/ as it is
  --no-readme                 do not rewrite bench/README.md
  --quick                     a tiny run to try the bench (results in bench/results/tmp/)
  --exactly-once              the relay with KAFKA_EXACTLY_ONCE=true (Kafka only; implies --no-readme)
  --formats A,B|all           only compare message formats: the relay drains the same backlog
                              (--events) once per format, schemas from bench/schemas; writes
                              bench/results/<date>-<sink>-formats.json (formats: ${FORMAT_NAMES.join(', ')})
  --baseline REF              only compare with another commit's relay: REF is built apart (under the
                              run dir, kept per commit), then both drain the same backlog (--events)
                              alternately; writes bench/results/<date>-<sink>-baseline.json
  --pairs N                   with --baseline: alternating pairs of runs (default 2)
  --with-debezium             Kafka: also run Debezium (Kafka Connect standalone, PostgreSQL connector,
                              Outbox Event Router; defaults and a tuned profile) on the same backlog
                              and latency scenarios`;

export class UsageError extends Error {}

export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      sink: { type: 'string', default: 'all' },
      events: { type: 'string' },
      'tx-size': { type: 'string', default: '100' },
      'payload-bytes': { type: 'string', default: '300' },
      writers: { type: 'string', default: '4' },
      rates: { type: 'string' },
      'latency-seconds': { type: 'string' },
      'latency-tx-size': { type: 'string', default: '10' },
      backlogs: { type: 'string' },
      'tx-sizes': { type: 'string' },
      'scaling-events': { type: 'string' },
      windows: { type: 'string' },
      'no-scaling': { type: 'boolean', default: false },
      'poll-batch': { type: 'string', default: '1000' },
      'poll-interval-ms': { type: 'string', default: '10' },
      'no-profile': { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      'no-readme': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      'exactly-once': { type: 'boolean', default: false },
      formats: { type: 'string' },
      baseline: { type: 'string' },
      pairs: { type: 'string', default: '2' },
      'with-debezium': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) throw new UsageError(USAGE);
  const quick = values.quick;
  const sink = values.sink;
  if (sink !== 'all' && sink !== 'kafka' && sink !== 'rabbitmq')
    throw new UsageError('--sink: expected kafka, rabbitmq or all');
  const exactlyOnce = values['exactly-once'];
  if (exactlyOnce && sink === 'rabbitmq') throw new UsageError('--exactly-once: measures Kafka only');
  return {
    sinks: exactlyOnce ? ['kafka'] : sink === 'all' ? ['kafka', 'rabbitmq'] : [sink],
    events: positive('--events', values.events ?? (quick ? '5000' : '200000')),
    txSize: positive('--tx-size', values['tx-size']),
    payloadBytes: positive('--payload-bytes', values['payload-bytes']),
    writers: positive('--writers', values.writers),
    rates: list('--rates', values.rates ?? (quick ? '200,1000' : '1000,10000')),
    latencySeconds: positive('--latency-seconds', values['latency-seconds'] ?? (quick ? '3' : '20')),
    warmupSeconds: quick ? 1 : 3,
    latencyTxSize: positive('--latency-tx-size', values['latency-tx-size']),
    backlogs: values['no-scaling']
      ? []
      : list('--backlogs', values.backlogs ?? (quick ? '1000,5000' : '10000,100000,1000000')),
    txSizes: values['no-scaling']
      ? []
      : list('--tx-sizes', values['tx-sizes'] ?? (quick ? '1,100' : '1,10,100,10000')),
    windows: values['no-scaling'] ? [] : list('--windows', values.windows ?? (quick ? '1000' : '20000,5000')),
    scalingEvents: positive('--scaling-events', values['scaling-events'] ?? (quick ? '2000' : '100000')),
    pollBatch: positive('--poll-batch', values['poll-batch']),
    pollIntervalMs: positive('--poll-interval-ms', values['poll-interval-ms']),
    profile: !values['no-profile'],
    build: !values['no-build'],
    outDir: quick ? 'bench/results/tmp' : 'bench/results',
    readme: !values['no-readme'] && !quick && !exactlyOnce,
    quick,
    exactlyOnce,
    formats: values.formats === undefined ? [] : formatList(values.formats),
    baseline: baselineRef(values.baseline),
    pairs: positive('--pairs', values.pairs),
    withDebezium: values['with-debezium'],
  };
}

function baselineRef(ref: string | undefined): string | undefined {
  if (ref === undefined) return undefined;
  if (!/^[\w./^~@{}-]+$/.test(ref) || ref.startsWith('-'))
    throw new UsageError('--baseline: expected a git ref (a commit, tag or branch)');
  return ref;
}

function formatList(text: string): string[] {
  if (text === 'all') return [...FORMAT_NAMES];
  const names = text.split(',').map((name) => name.trim());
  const unknown = names.find((name) => !(FORMAT_NAMES as readonly string[]).includes(name));
  if (unknown !== undefined || names.length === 0)
    throw new UsageError(`--formats: expected all or a list of ${FORMAT_NAMES.join(', ')}`);
  return [...new Set(names)];
}

function positive(name: string, text: string | undefined): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`${name}: expected a positive integer`);
  return value;
}

function list(name: string, text: string): number[] {
  return text.split(',').map((part) => positive(name, part.trim()));
}
