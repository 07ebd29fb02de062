// What a test can see of a running relay process from outside: its probe endpoints (the port comes
// from its 'starting' log line, since tests run it with METRICS_PORT=0) and its resident memory.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { probeUrl, scrape } from '../kit/metrics.js';
import type { RelayProcess } from '../kit/relay.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor, withinMs } from '../kit/wait.js';
import type { OutboxLoad } from './load.js';
import { outboxCount } from './outbox.js';

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
 * What the table, the slot, the database's sessions and (given its process) the relay say about
 * delivery, for the message of a failed wait: rows pending, the slot's confirmed LSN, queries of
 * this database waiting or running for more than a second, the relay's in-flight and published
 * counts and its last log lines.
 */
export async function deliveryContext(db: TestDatabase, relay?: RelayProcess): Promise<string> {
  const { rows } = await db.pool.query<{ pending: string; confirmed: string | null; busy: string | null }>(
    `select (select count(*) from outbox)::text as pending,
            (select confirmed_flush_lsn::text from pg_replication_slots where slot_name = $1) as confirmed,
            (select string_agg(format('pid %s %s %s for %s: %s', pid, state, coalesce(wait_event, '-'),
                                      date_trunc('second', now() - query_start), left(query, 60)), ' | ')
               from pg_stat_activity
              where datname = current_database() and pid <> pg_backend_pid() and state <> 'idle'
                and now() - query_start > interval '1 second') as busy`,
    [db.slot],
  );
  const { pending, confirmed, busy } = rows[0]!;
  const parts = [
    `table: ${pending} rows pending`,
    `slot confirmed at ${confirmed ?? '(no slot)'}`,
    `database sessions busy for over 1 s: ${busy ?? 'none'}`,
  ];
  if (relay) {
    parts.push(relay.child.exitCode === null ? 'relay running' : `relay exited ${relay.child.exitCode}`);
    const probes = await probesOf(relay).catch(() => undefined);
    for (const metric of ['outbox_relay_in_flight_events', 'outbox_relay_events_published_total']) {
      const value = await probes?.metric(metric).catch(() => undefined);
      if (value !== undefined) parts.push(`${metric} ${value}`);
    }
    const last = relay.output.slice(-3).join(' | ');
    if (last) parts.push(`relay's last lines: ${last}`);
  }
  return parts.join('; ');
}

/**
 * Waits until the relay, its broker gone, takes no more events: its in-flight count is above half
 * the window (it resumes reading at half) and unchanged while the load commits another 1,000 events.
 * Returns that count. A window fills to exactly its size only if nothing completes meanwhile; a
 * broker that is being stopped may still confirm a few, which leaves the relay paused a little below.
 */
export async function waitForWindowClosed(
  probes: Probes,
  load: OutboxLoad,
  windowSize: number,
  timeoutMs = 60_000,
): Promise<number> {
  let inFlight: number | undefined;
  return waitFor(
    () => `the window to close (${inFlight} in flight, window ${windowSize})`,
    async () => {
      const before = (await probes.metric('outbox_relay_in_flight_events')) ?? 0;
      const committed = load.committed;
      await waitFor('1,000 more events committed', () => load.committed >= committed + 1_000, {
        timeoutMs: 20_000,
      });
      inFlight = (await probes.metric('outbox_relay_in_flight_events')) ?? 0;
      return inFlight === before && inFlight > windowSize / 2 ? inFlight : undefined;
    },
    { timeoutMs },
  );
}

/** Waits until the outbox is empty; on timeout the error carries deliveryContext. */
export async function waitForOutboxEmpty(
  db: TestDatabase,
  relay?: RelayProcess,
  timeoutMs = 60_000,
): Promise<void> {
  try {
    await waitFor('every row completed', async () => (await outboxCount(db.pool)) === 0, { timeoutMs });
  } catch (error) {
    const context = await withinMs(10_000, deliveryContext(db, relay)).catch((cause: Error) => cause.message);
    throw new Error(`${(error as Error).message}; ${context}`, { cause: error });
  }
}
