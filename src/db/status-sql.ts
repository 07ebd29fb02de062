// `outbox-relay status` (status.ts): catalogs, counts and the relay's bookkeeping row.
import type { TableName } from '../wal/decode.js';
import { statement } from './database.js';
import type { Statement } from './database.js';
import { quoteTable } from './identifiers.js';
import { CURRENT_WAL_LSN } from './monitor-sql.js';

export interface SlotStatusRow {
  active: boolean;
  active_pid: number | null;
  confirmed_flush_lsn: string | null;
  retained: string | null;
  lag: string | null;
  wal_status: string | null;
  /** 17+; null while valid, and before 17. */
  invalidation_reason: string | null;
}

export function slotStatus(slot: string): Statement<SlotStatusRow> {
  return statement(
    `select active, active_pid, confirmed_flush_lsn::text,
            (${CURRENT_WAL_LSN} - restart_lsn)::bigint::text as retained,
            (${CURRENT_WAL_LSN} - confirmed_flush_lsn)::bigint::text as lag, wal_status,
            to_jsonb(s) ->> 'invalidation_reason' as invalidation_reason
       from pg_replication_slots s where slot_name = $1`,
    [slot],
  );
}

/** Whether a session named one of `applicationNames` is connected, and the slot's last problem. */
export function relaySessions(
  slot: string,
  applicationNames: readonly string[],
): Statement<{ running: boolean; last_error: string | null; last_error_at: Date | null }> {
  return statement(
    `select exists (select 1 from pg_stat_activity
                     where datname = current_database() and application_name = any($2)) as running,
            (select last_error from outbox_relay_slot where slot_name = $1) as last_error,
            (select last_error_at from outbox_relay_slot where slot_name = $1) as last_error_at`,
    [slot, applicationNames],
  );
}

/** The planner's row estimate (cheap on any size of table). */
export function estimatedRows(table: TableName): Statement<{ estimate: number }> {
  return statement(
    `select greatest(reltuples, 0)::float8 as estimate from pg_class where oid = $1::regclass`,
    [quoteTable(table)],
  );
}

export function countPending(table: TableName, markMode: boolean): Statement<{ count: string }> {
  const where = markMode ? 'where processed_at is null' : '';
  return statement(`select count(*)::text as count from ${quoteTable(table)} ${where}`);
}

export function countDeadLetters(): Statement<{ count: string }> {
  return statement(`select count(*)::text as count from outbox_dead_letter`);
}
