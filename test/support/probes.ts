// What a test can see of a running relay process from outside: its probe endpoints (the port comes
// from its 'starting' log line, since tests run it with METRICS_PORT=0) and its resident memory.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { probeUrl, scrape } from '../kit/metrics.js';
import type { RelayProcess } from '../kit/relay.js';
import type { TestDatabase } from '../kit/services.js';

export interface Probes {
  /** HTTP status of /readyz, or of the orchestrators' /readyz?standby=ready. */
  readyStatus(query?: string): Promise<number>;
  /** The sum of a metric's samples (all label sets); undefined when absent. */
  metric(name: string): Promise<number | undefined>;
}

export async function probesOf(relay: RelayProcess): Promise<Probes> {
  const base = await probeUrl(relay);
  return {
    async readyStatus(query = '') {
      const response = await fetch(`${base}/readyz${query}`);
      await response.body?.cancel();
      return response.status;
    },
    async metric(name) {
      const values = (await scrape(base)).samples.filter((sample) => sample.name === name);
      return values.length === 0 ? undefined : values.reduce((sum, sample) => sum + sample.value, 0);
    },
  };
}

/** Resident memory of a process in MiB, from /proc (Linux). */
export function residentMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

/**
 * Watches a relay through a broker outage until `untilMs`: it must keep running and stay not ready.
 * Returns the most events it held in flight and its peak resident memory.
 */
export async function watchOutage(
  relay: RelayProcess,
  probes: Probes,
  untilMs: number,
): Promise<{ maxInFlight: number; maxRss: number }> {
  let maxInFlight = 0;
  let maxRss = 0;
  while (Date.now() < untilMs) {
    assert.equal(relay.child.exitCode, null, 'the relay keeps running');
    assert.equal(await probes.readyStatus(), 503);
    maxInFlight = Math.max(maxInFlight, (await probes.metric('outbox_relay_in_flight_events')) ?? 0);
    maxRss = Math.max(maxRss, residentMiB(relay.child.pid!));
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { maxInFlight, maxRss };
}

/**
 * What the table, the slot and (given its process) the relay say about delivery, for the message of
 * a failed wait: rows pending, the slot's confirmed LSN, the relay's in-flight events and last lines.
 */
export async function deliveryContext(db: TestDatabase, relay?: RelayProcess): Promise<string> {
  const { rows } = await db.pool.query<{ pending: string; confirmed: string | null }>(
    `select (select count(*) from outbox)::text as pending,
            (select confirmed_flush_lsn::text from pg_replication_slots where slot_name = $1) as confirmed`,
    [db.slot],
  );
  const parts = [
    `table: ${rows[0]!.pending} rows pending`,
    `slot confirmed at ${rows[0]!.confirmed ?? 'no slot'}`,
  ];
  if (relay) {
    parts.push(relay.child.exitCode === null ? 'relay running' : `relay exited ${relay.child.exitCode}`);
    const probes = await probesOf(relay).catch(() => undefined);
    const inFlight = await probes?.metric('outbox_relay_in_flight_events').catch(() => undefined);
    if (inFlight !== undefined) parts.push(`${inFlight} in flight`);
    const last = relay.output.slice(-3).join(' | ');
    if (last) parts.push(`relay's last lines: ${last}`);
  }
  return parts.join('; ');
}
