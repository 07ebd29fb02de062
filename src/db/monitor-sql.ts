// The running relay's periodic tick (observability/slot-monitor.ts): the slot's lag, and the
// leader's last problem recorded for `outbox-relay status`.
import { statement } from './database.js';
import type { Statement } from './database.js';

/**
 * The server's newest WAL position, in SQL: a hot standby (decoding on a standby) cannot run
 * pg_current_wal_lsn(), its newest is what it replayed.
 */
export const CURRENT_WAL_LSN =
  'case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end';

export function slotLag(slot: string): Statement<{ lag: string | null }> {
  return statement(
    `select (${CURRENT_WAL_LSN} - confirmed_flush_lsn)::bigint::text as lag
         from pg_replication_slots where slot_name = $1`,
    [slot],
  );
}

// A slot without a row predates the sweep bookkeeping, so it counts as swept (wal/slot.ts).
export function recordLastError(slot: string, message: string, at: Date): Statement {
  return statement(
    `insert into outbox_relay_slot (slot_name, swept_at, last_error, last_error_at)
         values ($1, now(), $2, $3)
       on conflict (slot_name) do update
         set last_error = excluded.last_error, last_error_at = excluded.last_error_at`,
    [slot, message, at],
  );
}
