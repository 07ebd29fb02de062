// A periodic tick of the running relay, independent of the replication stream (so it goes on while
// the stream is stalled or reconnecting):
// - refreshes outbox_relay_replication_lag_bytes from pg_replication_slots;
// - while this instance leads, records a new last warning in outbox_relay_slot, which is how a
//   separate `outbox-relay status` process shows the running relay's last error.
// It writes only when there is a new problem: an idle relay must not produce WAL of its own (its
// slot would then never rest at a fixed position, see design.md "Acknowledge").
import { run } from '../db/database.js';
import type { Queryable } from '../db/database.js';
import * as monitorSql from '../db/monitor-sql.js';
import type { LastProblem } from './logger.js';
import type { RelayMetrics } from './metrics.js';

/** How often the relay refreshes the lag gauge and records its last problem. */
export const SLOT_MONITOR_INTERVAL_MS = 5_000;

export interface SlotMonitorOptions {
  /** Where the slot is (its lag). */
  readonly db: Queryable;
  /** Where the relay writes (its last problem); `db` when not given. */
  readonly primary?: Queryable;
  readonly slot: string;
  readonly metrics: RelayMetrics;
  readonly isLeader: () => boolean;
  readonly lastProblem: () => LastProblem | undefined;
  readonly intervalMs?: number;
}

export interface SlotMonitor {
  stop(): Promise<void>;
}

export function startSlotMonitor(options: SlotMonitorOptions): SlotMonitor {
  let recorded: LastProblem | undefined;
  const tick = async (): Promise<void> => {
    await refreshLag(options);
    const problem = options.lastProblem();
    if (problem && problem !== recorded && options.isLeader() && (await recordProblem(options, problem)))
      recorded = problem;
  };
  let running: Promise<void> = tick();
  const timer = setInterval(() => {
    running = running.then(tick);
  }, options.intervalMs ?? SLOT_MONITOR_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

async function refreshLag({ db, slot, metrics }: SlotMonitorOptions): Promise<void> {
  try {
    const { rows } = await run(db, monitorSql.slotLag(slot));
    if (rows[0]?.lag != null) metrics.setReplicationLagBytes(Number(rows[0].lag));
  } catch {
    // The database is unreachable: the stream reports that; the gauge keeps its last value.
  }
}

async function recordProblem(
  { db, primary = db, slot }: SlotMonitorOptions,
  problem: LastProblem,
): Promise<boolean> {
  try {
    await run(primary, monitorSql.recordLastError(slot, problem.message, problem.at));
    return true;
  } catch {
    return false;
  }
}
