// The running relay's periodic tick (observability/slot-monitor.ts): the slot's lag, and the
// leader's last problem recorded for `outbox-relay status`.
import { statement } from './database.js';
import type { Statement } from './database.js';

export function slotLag(slot: string): Statement<{ lag: string | null }> {
  return statement(
    `select (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint::text as lag
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
