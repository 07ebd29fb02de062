// A periodic tick of the running relay, independent of the replication stream (so it goes on while
// the stream is stalled or reconnecting):
// - refreshes outbox_relay_replication_lag_bytes from pg_replication_slots;
// - while this instance leads, records a heartbeat and its last warning in outbox_relay_slot, which
//   is how a separate `outbox-relay status` process sees whether the relay runs and its last error.
import type { Pool } from 'pg';
import type { LastProblem } from './logger.js';
import type { RelayMetrics } from './metrics.js';

/** How often the relay refreshes the lag gauge and its heartbeat. */
export const HEARTBEAT_INTERVAL_MS = 5_000;

export interface HeartbeatOptions {
  readonly pool: Pool;
  readonly slot: string;
  readonly metrics: RelayMetrics;
  readonly isLeader: () => boolean;
  readonly lastProblem: () => LastProblem | undefined;
  readonly intervalMs?: number;
}

export interface Heartbeat {
  stop(): Promise<void>;
}

export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  // The heartbeat this instance wrote last, so that stopping clears it only if no other leader
  // has beaten since.
  let written: string | undefined;
  const tick = async (): Promise<void> => {
    written = (await beat(options)) ?? written;
  };
  let running: Promise<void> = tick();
  const timer = setInterval(() => {
    running = running.then(tick);
  }, options.intervalMs ?? HEARTBEAT_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await running;
      if (!written) return;
      // A stopped relay is not running: `status` should say so at once.
      await options.pool
        .query(
          `update outbox_relay_slot set heartbeat_at = null where slot_name = $1 and heartbeat_at = $2::timestamptz`,
          [options.slot, written],
        )
        .catch(() => undefined);
    },
  };
}

/** Returns the heartbeat it wrote (as text: microseconds survive the round trip), if any. */
async function beat({
  pool,
  slot,
  metrics,
  isLeader,
  lastProblem,
}: HeartbeatOptions): Promise<string | undefined> {
  try {
    const { rows } = await pool.query<{ lag: string | null }>(
      `select (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint::text as lag
         from pg_replication_slots where slot_name = $1`,
      [slot],
    );
    if (rows[0]?.lag != null) metrics.setReplicationLagBytes(Number(rows[0].lag));
    if (!isLeader()) return undefined;
    const problem = lastProblem();
    // A slot without a row predates the sweep bookkeeping, so it counts as swept (wal/slot.ts).
    const { rows: written } = await pool.query<{ heartbeat_at: string }>(
      `insert into outbox_relay_slot (slot_name, swept_at, heartbeat_at, last_error, last_error_at)
         values ($1, now(), now(), $2, $3)
       on conflict (slot_name) do update
         set heartbeat_at = now(),
             last_error = coalesce(excluded.last_error, outbox_relay_slot.last_error),
             last_error_at = coalesce(excluded.last_error_at, outbox_relay_slot.last_error_at)
       returning heartbeat_at::text`,
      [slot, problem?.message ?? null, problem?.at ?? null],
    );
    return written[0]?.heartbeat_at;
  } catch {
    // The database is unreachable: the stream reports that; the gauge keeps its last value.
    return undefined;
  }
}
