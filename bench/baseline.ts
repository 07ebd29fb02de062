// `npm run bench -- --baseline <git ref>`: the working tree's relay against another commit's, on
// the same machine, services and events. The ref is built in a folder of its own under the run
// directory (git archive, npm ci, npm run build; kept per commit for the next run), then the two
// relays drain the same backlog alternately, --pairs times, so a change in the machine's load falls
// on both. Each relay runs alone (no pg_recvlogical, no polling relay).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ROOT } from '../test/kit/services.js';
import { createBroker } from './brokers.js';
import type { BenchOptions, SinkName } from './options.js';
import { backlog } from './scenarios.js';
import type { BenchContext, Throughput } from './scenarios.js';

export interface BaselineBuild {
  readonly ref: string;
  readonly commit: string;
  /**
   * The ref's outbox-relay command (its package.json `bin`), run as `<entry> run`: a launcher with
   * its own V8 flags where the ref has one, else the built CLI run with node, as users ran it then.
   */
  readonly entry: string;
}

/** Builds `ref` (once per commit) under `runDir`; returns its CLI. */
export function buildBaseline(
  ref: string,
  runDir: string,
  progress: (message: string) => void,
): BaselineBuild {
  const commit = execFileSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], { cwd: ROOT })
    .toString()
    .trim();
  const dir = `${runDir}/bench-baseline/${commit}`;
  if (!existsSync(`${dir}/dist`)) {
    progress(`building ${ref} (${commit.slice(0, 12)}) in ${dir}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const tar = execFileSync('git', ['archive', '--format=tar', commit], { cwd: ROOT, maxBuffer: 1 << 30 });
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
    const quiet = { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] as const };
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { ...quiet, stdio: [...quiet.stdio] });
    execFileSync('npm', ['run', 'build'], { ...quiet, stdio: [...quiet.stdio] });
  }
  const bin = (JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')) as { bin: Record<string, string> })
    .bin;
  return { ref, commit, entry: `${dir}/${bin['outbox-relay']}` };
}

export interface BaselinePair {
  readonly current: Throughput;
  readonly baseline: Throughput;
}

/** Sums over the pairs: throughput of all events over all seconds, CPU per 100k, the highest RSS. */
export interface BaselineSummary {
  readonly eventsPerSecond: { readonly current: number; readonly baseline: number };
  readonly cpuSecondsPer100k: { readonly current?: number; readonly baseline?: number };
  readonly peakRssMiB: { readonly current?: number; readonly baseline?: number };
  /** current / baseline: below 1 means the working tree spends less CPU per event. */
  readonly cpuPerEventRatio?: number;
  readonly throughputRatio: number;
}

export interface BaselineResults {
  readonly version: 1;
  readonly kind: 'baseline';
  readonly sink: SinkName;
  readonly date: string;
  readonly command: string;
  readonly baseline: { readonly ref: string; readonly commit: string };
  readonly current: { readonly commit: string; readonly dirty: boolean };
  readonly options: { readonly events: number; readonly txSize: number; readonly payloadBytes: number };
  readonly cores: number;
  readonly pairs: readonly BaselinePair[];
  readonly summary: BaselineSummary;
}

function side(runs: readonly Throughput[]): { eventsPerSecond: number; cpu?: number; rss?: number } {
  const events = runs.reduce((sum, run) => sum + run.events, 0);
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0);
  const cpuRuns = runs.map((run) => run.cost.processCpuSeconds);
  const cpu = cpuRuns.every((value) => value !== undefined)
    ? (cpuRuns.reduce((sum, value) => sum + value, 0) / events) * 100_000
    : undefined;
  const rssRuns = runs.map((run) => run.cost.processPeakRssMiB ?? 0);
  return {
    eventsPerSecond: Math.round(events / seconds),
    cpu: cpu === undefined ? undefined : Math.round(cpu * 1000) / 1000,
    rss: rssRuns.length === 0 ? undefined : Math.max(...rssRuns),
  };
}

/** The summary of the pairs. Pure. */
export function summarisePairs(pairs: readonly BaselinePair[]): BaselineSummary {
  const current = side(pairs.map((pair) => pair.current));
  const baseline = side(pairs.map((pair) => pair.baseline));
  const round3 = (value: number): number => Math.round(value * 1000) / 1000;
  return {
    eventsPerSecond: { current: current.eventsPerSecond, baseline: baseline.eventsPerSecond },
    cpuSecondsPer100k: { current: current.cpu, baseline: baseline.cpu },
    peakRssMiB: { current: current.rss, baseline: baseline.rss },
    cpuPerEventRatio:
      current.cpu !== undefined && baseline.cpu ? round3(current.cpu / baseline.cpu) : undefined,
    throughputRatio: round3(current.eventsPerSecond / baseline.eventsPerSecond),
  };
}

/** The share of the machine's CPUs that other users took during a run (as the main tables say). */
function otherLoad(run: Throughput, cores: number): string {
  return `${Math.round((run.cost.otherCpuSeconds / (run.seconds * cores)) * 100)} %`;
}

/** A markdown table of the pairs and their summary. Pure. */
export function baselineMarkdown(results: BaselineResults): string {
  const { sink, options, pairs, summary, baseline, current } = results;
  const here = `working tree (${current.commit.slice(0, 7)}${current.dirty ? ', modified' : ''})`;
  const there = `${baseline.ref} (${baseline.commit.slice(0, 7)})`;
  const row = (label: string, run: Throughput): string =>
    `| ${label} | ${run.eventsPerSecond} | ${run.per100k.processCpuSeconds ?? '–'} | ${run.cost.processPeakRssMiB ?? '–'} | ${otherLoad(run, results.cores)} |`;
  return [
    `### Against ${there}, ${sink}: backlog of ${options.events} events, ${pairs.length} alternating pairs`,
    '',
    '| relay | events/s | relay CPU s per 100k events | peak RSS MiB | other load |',
    '| --- | --: | --: | --: | --: |',
    ...pairs.flatMap((pair, index) => [
      row(`${here}, pair ${index + 1}`, pair.current),
      row(`${there}, pair ${index + 1}`, pair.baseline),
    ]),
    `| **${here}, all pairs** | ${summary.eventsPerSecond.current} | ${summary.cpuSecondsPer100k.current ?? '–'} | ${summary.peakRssMiB.current ?? '–'} | |`,
    `| **${there}, all pairs** | ${summary.eventsPerSecond.baseline} | ${summary.cpuSecondsPer100k.baseline ?? '–'} | ${summary.peakRssMiB.baseline ?? '–'} | |`,
    '',
    `CPU per event, working tree / ${baseline.ref}: ${summary.cpuPerEventRatio ?? '–'}; throughput: ${summary.throughputRatio}.`,
  ].join('\n');
}

/** Runs the comparison on each sink; writes <outDir>/<date>-<sink>-baseline.json, prints the table. */
export async function compareWithBaseline(
  options: BenchOptions,
  ref: string,
  run: { date: string; command: string; runDir: string; progress: (message: string) => void },
): Promise<void> {
  const build = buildBaseline(ref, run.runDir, run.progress);
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: ROOT }).toString().trim();
  const current = {
    commit: git('rev-parse', 'HEAD'),
    dirty: git('status', '--porcelain', '--', 'src') !== '',
  };
  const { events, txSize, payloadBytes } = options;
  for (const sink of options.sinks) {
    const broker = await createBroker(sink, run.runDir);
    const ctx: BenchContext = { options, broker, progress: (message) => run.progress(`${sink}: ${message}`) };
    try {
      const pairs: BaselinePair[] = [];
      for (let pair = 1; pair <= options.pairs; pair++) {
        const drain = async (label: string, relayEntry?: string): Promise<Throughput> => {
          ctx.progress(`pair ${pair}: ${label}, backlog of ${events} events`);
          const { relay } = await backlog(ctx, events, txSize, {
            recvlogical: false,
            poller: false,
            relayEntry,
          });
          return relay;
        };
        const currentRun = await drain('working tree');
        pairs.push({ current: currentRun, baseline: await drain(ref, build.entry) });
      }
      const results: BaselineResults = {
        version: 1,
        kind: 'baseline',
        sink,
        date: run.date,
        command: run.command,
        baseline: { ref, commit: build.commit },
        current,
        options: { events, txSize, payloadBytes },
        cores: availableParallelism(),
        pairs,
        summary: summarisePairs(pairs),
      };
      const file = `${options.outDir}/${run.date.slice(0, 10)}-${sink}-baseline.json`;
      writeFileSync(`${ROOT}/${file}`, `${JSON.stringify(results, null, 2)}\n`);
      run.progress(`wrote ${file}`);
      process.stdout.write(`\n${baselineMarkdown(results)}\n`);
    } finally {
      await broker.close();
    }
  }
}
