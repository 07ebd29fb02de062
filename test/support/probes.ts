// What a test can see of a running relay process from outside: its probe endpoints (the port comes
// from its 'starting' log line, since tests run it with METRICS_PORT=0) and its resident memory.
import { readFileSync } from 'node:fs';
import type { RelayProcess } from './relay.js';
import { KAFKA_BROKER } from './services.js';
import type { TestDatabase } from './services.js';

export function relayEnv(db: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: db.url, OUTBOX_SLOT: db.slot, KAFKA_BROKERS: KAFKA_BROKER, ...extra };
}

export interface Probes {
  /** HTTP status of /readyz, or of the orchestrators' /readyz?standby=ready. */
  readyStatus(query?: string): Promise<number>;
  /** The sum of a metric's samples (all label sets); undefined when absent. */
  metric(name: string): Promise<number | undefined>;
}

export async function probesOf(relay: RelayProcess): Promise<Probes> {
  const starting = await relay.waitForLog('starting');
  const base = String(starting['metrics'])
    .replace('0.0.0.0', '127.0.0.1')
    .replace(/\/metrics$/, '');
  return {
    async readyStatus(query = '') {
      const response = await fetch(`${base}/readyz${query}`);
      await response.body?.cancel();
      return response.status;
    },
    async metric(name) {
      const text = await (await fetch(`${base}/metrics`)).text();
      let sum: number | undefined;
      for (const line of text.split('\n')) {
        if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
          sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
        }
      }
      return sum;
    },
  };
}

/** Resident memory of a process in MiB, from /proc (Linux). */
export function residentMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}
