// Our relay under test: `bin/outbox-relay run` as a child process (the command users run: built
// code, no tsx, the launcher's V8 flags), watched through its own /metrics.
import { readFileSync } from 'node:fs';
import { startCommand, startNode } from '../test/kit/relay.js';
import { ROOT } from '../test/kit/services.js';
import type { RelayProcess } from '../test/kit/relay.js';
import { probeUrl, scrape } from '../test/kit/metrics.js';
import type { Sample } from '../test/kit/metrics.js';
import type { Buckets } from './stats.js';

export interface RelayOptions {
  readonly databaseUrl: string;
  readonly slot: string;
  readonly env: Record<string, string>;
  /** Write a V8 CPU profile (node --cpu-prof) into this directory when the relay exits. */
  readonly cpuProfileDir?: string;
  /** A baseline's outbox-relay command (its built CLI or its launcher); the working tree's launcher when absent. */
  readonly entry?: string;
}

/** Peaks of the relay's memory over a run (MiB), from its own metrics sampled twice a second. */
export interface MemorySample {
  readonly samples: number;
  readonly rssMiB: number;
  readonly heapTotalMiB: number;
  readonly heapUsedMiB: number;
  /** The smallest heap in use seen: what survives a major GC, about what the relay keeps alive. */
  readonly heapUsedMinMiB: number;
  /** Buffers outside the V8 heap (network, encoding). */
  readonly externalMiB: number;
}

// A live-load relay creates its slot; a broker just started may still be loading its coordinator.
const EXPECTED_WARNINGS = /replication slot missing: creating it|coordinator is loading/;

export class BenchRelay {
  readonly process: RelayProcess;
  readonly pid: number;
  private readonly spawnedAt = performance.now();
  private metricsUrl: string | undefined;

  /** Spawns the relay; `streaming()` waits until it reads its slot. */
  constructor(options: RelayOptions) {
    const env = {
      DATABASE_URL: options.databaseUrl,
      OUTBOX_SLOT: options.slot,
      METRICS_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...options.env,
    };
    if (options.entry) {
      // A baseline's command: its built CLI (run with node), or its launcher.
      this.process = /\.m?js$/.test(options.entry)
        ? startNode([options.entry, 'run'], env)
        : startCommand(options.entry, ['run'], env);
    } else if (options.cpuProfileDir) {
      // --cpu-prof cannot go through the launcher (NODE_OPTIONS refuses it): its flags, then its bundle.
      const launcherFlags = readFileSync(`${ROOT}/bin/node-flags`, 'utf8').trim().split(/\s+/);
      const profile = ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`];
      this.process = startNode([...launcherFlags, ...profile, 'dist/outbox-relay.mjs', 'run'], env);
    } else {
      this.process = startCommand(`${ROOT}/bin/outbox-relay`, ['run'], env);
    }
    this.pid = this.process.child.pid!;
  }

  /** Waits for the relay to stream; resolves with the seconds since it was spawned. */
  async streaming(): Promise<number> {
    const relay = this.process;
    const exitedEarly = relay.exited.then((code) => {
      throw new Error(`relay exited with ${code} before streaming:\n${relay.output.slice(-20).join('\n')}`);
    });
    exitedEarly.catch(() => undefined);
    this.metricsUrl = await Promise.race([probeUrl(relay), exitedEarly]);
    await Promise.race([relay.waitForLog('streaming', 120_000), exitedEarly]);
    return (performance.now() - this.spawnedAt) / 1000;
  }

  /**
   * Samples the relay's memory from its /metrics (prom-client's process and V8 heap figures) every
   * `intervalMs` until the returned function is called, which resolves with the peaks and the
   * smallest heap in use seen (after a major GC: close to what the relay keeps alive).
   */
  sampleMemory(intervalMs = 500): () => Promise<MemorySample | undefined> {
    const peaks = { rssMiB: 0, heapTotalMiB: 0, heapUsedMiB: 0, externalMiB: 0 };
    let heapUsedMinMiB = Number.POSITIVE_INFINITY;
    let samples = 0;
    const read = async (): Promise<void> => {
      const { samples: metrics } = await scrape(this.metricsUrl!);
      const mib = (name: string): number => sum(metrics, name) / 2 ** 20;
      const heapUsed = mib('nodejs_heap_size_used_bytes');
      peaks.rssMiB = Math.max(peaks.rssMiB, mib('process_resident_memory_bytes'));
      peaks.heapTotalMiB = Math.max(peaks.heapTotalMiB, mib('nodejs_heap_size_total_bytes'));
      peaks.heapUsedMiB = Math.max(peaks.heapUsedMiB, heapUsed);
      peaks.externalMiB = Math.max(peaks.externalMiB, mib('nodejs_external_memory_bytes'));
      heapUsedMinMiB = Math.min(heapUsedMinMiB, heapUsed);
      samples += 1;
    };
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        await read().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    })();
    return async () => {
      stopped = true;
      await loop;
      if (samples === 0) return undefined;
      const r = (value: number): number => Math.round(value * 10) / 10;
      return {
        samples,
        rssMiB: r(peaks.rssMiB),
        heapTotalMiB: r(peaks.heapTotalMiB),
        heapUsedMiB: r(peaks.heapUsedMiB),
        heapUsedMinMiB: r(heapUsedMinMiB),
        externalMiB: r(peaks.externalMiB),
      };
    };
  }

  /** The cumulative end-to-end histogram (WAL commit time to broker confirmation), by upper bound. */
  async endToEnd(): Promise<Buckets> {
    const { samples } = await scrape(this.metricsUrl!);
    const buckets = new Map<number, number>();
    for (const sample of samples) {
      if (sample.name !== 'outbox_relay_end_to_end_seconds_bucket') continue;
      const le = sample.labels['le'] === '+Inf' ? Number.POSITIVE_INFINITY : Number(sample.labels['le']);
      buckets.set(le, sample.value);
    }
    return buckets;
  }

  /** Graceful stop; throws when the relay does not exit 0. */
  async stop(): Promise<void> {
    const code = await this.process.stop('SIGTERM');
    if (code !== 0)
      throw new Error(`relay exited with ${code}:\n${this.process.output.slice(-20).join('\n')}`);
  }

  /** Lines the relay logged at warn or above (they would explain a slow run), the expected ones aside. */
  problems(): string[] {
    return this.process.output.filter(
      (line) => /"level":"(warn|error|fatal)"/.test(line) && !EXPECTED_WARNINGS.test(line),
    );
  }
}

function sum(samples: readonly Sample[], name: string): number {
  return samples.filter((sample) => sample.name === name).reduce((total, sample) => total + sample.value, 0);
}
