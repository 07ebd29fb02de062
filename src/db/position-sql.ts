// The confirmed-position record in outbox_relay_slot (wal/confirmed-position.ts): the position the
// relay last confirmed with every event before it completed, and the cluster and timeline it was on.
// Kept in its own module so the write can go to another connection (a primary) than the stream's.
import { statement } from './database.js';
import type { Statement } from './database.js';

export interface ConfirmedPositionRow {
  system_id: string | null;
  timeline: string | null;
  confirmed_lsn: string | null;
}

export function readConfirmedPosition(slot: string): Statement<ConfirmedPositionRow> {
  return statement(
    `select system_id, timeline::text, confirmed_lsn::text from outbox_relay_slot where slot_name = $1`,
    [slot],
  );
}

/**
 * Records a position, only on a server whose WAL reaches it (never on an older copy of the cluster
 * that took the address in between: its history does not have the position). On the same cluster and timeline it only moves forward (a leader that lost
 * the slot may still write a late, older one). A slot without a row predates the sweep bookkeeping,
 * so it counts as swept (wal/slot.ts).
 */
export function recordConfirmedPosition(
  slot: string,
  systemId: string,
  timeline: number,
  lsn: string,
): Statement {
  return statement(
    `insert into outbox_relay_slot (slot_name, swept_at, system_id, timeline, confirmed_lsn, confirmed_at)
         select $1, now(), $2, $3, $4::pg_lsn, now() where pg_current_wal_lsn() >= $4::pg_lsn
       on conflict (slot_name) do update
         set system_id = excluded.system_id, timeline = excluded.timeline,
             confirmed_lsn = excluded.confirmed_lsn, confirmed_at = excluded.confirmed_at
         where outbox_relay_slot.confirmed_lsn is null
            or outbox_relay_slot.system_id is distinct from excluded.system_id
            or outbox_relay_slot.timeline is distinct from excluded.timeline
            or outbox_relay_slot.confirmed_lsn < excluded.confirmed_lsn`,
    [slot, systemId, timeline, lsn],
  );
}
