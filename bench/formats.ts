// `npm run bench -- --formats ...`: what each message format costs. The relay drains the same backlog
// (--events events of --payload-bytes, in transactions of --tx-size) once per format, alone (no
// pg_recvlogical, no polling relay), with OUTBOX_FORMAT set and the schemas of bench/schemas (the
// bench's `BenchEvent` payload `{"tx": n, "pad": "..."}` as Avro, Protobuf and JSON Schema).
import { writeFileSync } from 'node:fs';
import { ROOT } from '../test/kit/services.js';
import { createBroker } from './brokers.js';
import type { BenchOptions, SinkName } from './options.js';
import { backlog } from './scenarios.js';
import type { BenchContext, Throughput } from './scenarios.js';

export const BENCH_SCHEMAS_DIR = `${ROOT}/bench/schemas`;

/** The bound: Avro keeps at least this share of native's throughput. */
export const AVRO_MIN_SHARE_OF_NATIVE = 0.7;

export interface FormatRun {
  readonly format: string;
  readonly relay: Throughput;
}

export interface FormatResults {
  readonly version: 1;
  readonly kind: 'formats';
  readonly sink: SinkName;
  readonly date: string;
  readonly command: string;
  readonly options: { readonly events: number; readonly txSize: number; readonly payloadBytes: number };
  readonly runs: readonly FormatRun[];
  /** Each format's throughput over native's, when native was measured. */
  readonly shareOfNative: Readonly<Record<string, number>>;
  /** avro's share against AVRO_MIN_SHARE_OF_NATIVE, when both were measured. */
  readonly avroTarget?: { readonly share: number; readonly min: number; readonly met: boolean };
}

/** The relay's environment for one format. */
export function formatEnv(format: string): Record<string, string> {
  return { OUTBOX_FORMAT: format, OUTBOX_SCHEMAS_DIR: BENCH_SCHEMAS_DIR };
}

async function formatRuns(ctx: BenchContext, formats: readonly string[]): Promise<FormatRun[]> {
  const { events, txSize } = ctx.options;
  const runs: FormatRun[] = [];
  for (const format of formats) {
    ctx.progress(`format ${format}: backlog of ${events} events, relay alone`);
    const { relay } = await backlog(ctx, events, txSize, {
      recvlogical: false,
      poller: false,
      relayEnv: formatEnv(format),
    });
    if (relay.delivered !== undefined && relay.delivered < events)
      throw new Error(`format ${format}: ${relay.delivered} of ${events} events reached the broker`);
    runs.push({ format, relay });
  }
  return runs;
}

/** Shares of native's throughput and the Avro target, from the runs. Pure. */
export function formatShares(
  runs: readonly FormatRun[],
): Pick<FormatResults, 'shareOfNative' | 'avroTarget'> {
  const native = runs.find((run) => run.format === 'native')?.relay.eventsPerSecond;
  const shareOfNative: Record<string, number> = {};
  if (native)
    for (const { format, relay } of runs)
      shareOfNative[format] = Math.round((relay.eventsPerSecond / native) * 1000) / 1000;
  const share = shareOfNative['avro'];
  return {
    shareOfNative,
    avroTarget:
      share === undefined
        ? undefined
        : { share, min: AVRO_MIN_SHARE_OF_NATIVE, met: share >= AVRO_MIN_SHARE_OF_NATIVE },
  };
}

/** A markdown table of the runs. Pure. */
export function formatsMarkdown(results: FormatResults): string {
  const { sink, options, runs, shareOfNative, avroTarget } = results;
  const lines = [
    `### Message formats, ${sink}: backlog of ${options.events} events (${options.payloadBytes}-byte payloads, transactions of ${options.txSize})`,
    '',
    '| format | events/s | share of native | relay CPU s per 100k events | peak RSS MiB |',
    '| --- | --: | --: | --: | --: |',
    ...runs.map(
      ({ format, relay }) =>
        `| ${format} | ${relay.eventsPerSecond} | ${shareOfNative[format] ?? '–'} | ${relay.per100k.processCpuSeconds ?? '–'} | ${relay.cost.processPeakRssMiB ?? '–'} |`,
    ),
  ];
  if (avroTarget)
    lines.push(
      '',
      `Avro keeps ${Math.round(avroTarget.share * 100)} % of native's throughput (bound: at least ${avroTarget.min * 100} %): ${avroTarget.met ? 'met' : 'NOT met'}.`,
    );
  return lines.join('\n');
}

/**
 * Runs the comparison on each sink of `options`; writes <outDir>/<date>-<sink>-formats.json and
 * prints the table. bench/README.md is left as it is.
 */
export async function compareFormats(
  options: BenchOptions,
  run: { date: string; command: string; runDir: string; progress: (message: string) => void },
): Promise<void> {
  for (const sink of options.sinks) {
    const broker = await createBroker(sink, run.runDir);
    const ctx: BenchContext = { options, broker, progress: (message) => run.progress(`${sink}: ${message}`) };
    try {
      const runs = await formatRuns(ctx, options.formats);
      const { events, txSize, payloadBytes } = options;
      const results: FormatResults = {
        version: 1,
        kind: 'formats',
        sink,
        date: run.date,
        command: run.command,
        options: { events, txSize, payloadBytes },
        runs,
        ...formatShares(runs),
      };
      const file = `${options.outDir}/${run.date.slice(0, 10)}-${sink}-formats.json`;
      writeFileSync(`${ROOT}/${file}`, `${JSON.stringify(results, null, 2)}\n`);
      run.progress(`wrote ${file}`);
      process.stdout.write(`\n${formatsMarkdown(results)}\n`);
    } finally {
      await broker.close();
    }
  }
}
