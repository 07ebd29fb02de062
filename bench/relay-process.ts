// Our relay under test: `node dist/cli.js run` as a child process (built code, no tsx), watched
// through its own /metrics.
import { startRelayProcess } from '../test/support/relay.js';
import type { RelayProcess } from '../test/support/relay.js';
import { probeUrl, scrape } from '../test/support/metrics.js';
import type { Sample } from '../test/support/metrics.js';
import type { Buckets } from './stats.js';

export interface RelayOptions {
  readonly databaseUrl: string;
  readonly slot: string;
  readonly env: Record<string, string>;
  /** Write a V8 CPU profile (node --cpu-prof) into this directory when the relay exits. */
  readonly cpuProfileDir?: string;
}

export interface RelayProgress {
  /** Events confirmed by the broker. */
  readonly published: number;
  /** Events read and not yet completed. */
  readonly inFlight: number;
}

export class BenchRelay {
  readonly process: RelayProcess;
  readonly pid: number;
  private readonly spawnedAt = performance.now();
  private metricsUrl: string | undefined;

  /** Spawns the relay; `streaming()` waits until it reads its slot. */
  constructor(options: RelayOptions) {
    const entry = options.cpuProfileDir
      ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`, 'dist/cli.js']
      : ['dist/cli.js'];
    this.process = startRelayProcess(
      {
        DATABASE_URL: options.databaseUrl,
        OUTBOX_SLOT: options.slot,
        METRICS_HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        ...options.env,
      },
      ['run'],
      entry,
    );
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

  async progress(): Promise<RelayProgress> {
    const { samples } = await scrape(this.metricsUrl!);
    return {
      published: sum(samples, 'outbox_relay_events_published_total'),
      inFlight: sum(samples, 'outbox_relay_in_flight_events'),
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

  /** Lines the relay logged at warn or above (they would explain a slow run). */
  problems(): string[] {
    return this.process.output.filter((line) => /"level":"(warn|error|fatal)"/.test(line));
  }
}

function sum(samples: readonly Sample[], name: string): number {
  return samples.filter((sample) => sample.name === name).reduce((total, sample) => total + sample.value, 0);
}
