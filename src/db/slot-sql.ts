// The replication slot (wal/slot.ts): reading and dropping it, its sweep bookkeeping in
// outbox_relay_slot, and creating it with an exported snapshot whose rows are then read.
import { SWEPT_XMIN_COLUMN } from '../wal/decode.js';
import type { TableName } from '../wal/decode.js';
import { statement } from './database.js';
import type { Statement } from './database.js';
import { quoteIdent, quoteLiteral, quoteTable } from './identifiers.js';

export interface SlotRow {
  plugin: string;
  database: string;
  current_db: string;
  confirmed_flush_lsn: string | null;
  active_pid: number | null;
  wal_status: string | null;
  /** null before PostgreSQL 17, which has no failover slots. */
  failover: boolean | null;
  /** Why PostgreSQL invalidated the slot (17+: wal_removed, rows_removed, wal_level_insufficient,
   * 18+: idle_timeout); null while it is valid, and always before 17. */
  invalidation_reason: string | null;
}

// Columns newer servers add are read through to_jsonb, so one statement runs on every version.
export function readSlot(slot: string): Statement<SlotRow> {
  return statement(
    `select plugin, database, current_database() as current_db, confirmed_flush_lsn::text,
            active_pid, wal_status, (to_jsonb(s) ->> 'failover')::boolean as failover,
            to_jsonb(s) ->> 'invalidation_reason' as invalidation_reason
       from pg_replication_slots s where slot_name = $1`,
    [slot],
  );
}

export function slotSwept(slot: string): Statement<{ swept: boolean }> {
  return statement(`select swept_at is not null as swept from outbox_relay_slot where slot_name = $1`, [
    slot,
  ]);
}

export function markSlotSwept(slot: string): Statement {
  return statement(`update outbox_relay_slot set swept_at = now() where slot_name = $1`, [slot]);
}

export function dropSlot(slot: string): Statement {
  return statement(
    `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1`,
    [slot],
  );
}

/** Records a new slot as not swept yet (a slot created again starts over). */
export function registerSlot(slot: string): Statement {
  return statement(
    `insert into outbox_relay_slot (slot_name) values ($1)
       on conflict (slot_name) do update set created_at = now(), swept_at = null`,
    [slot],
  );
}

/**
 * A walsender command: runs on a replication connection only. `failover` (PostgreSQL 17+) needs the
 * option list of PostgreSQL 15+; without it the older keyword form keeps 13 and 14 working.
 */
export function createSlotExportingSnapshot(
  slot: string,
  failover = false,
): Statement<{ consistent_point: string; snapshot_name: string }> {
  const options = failover ? `(SNAPSHOT 'export', FAILOVER true)` : 'EXPORT_SNAPSHOT';
  return statement(`CREATE_REPLICATION_SLOT ${quoteIdent(slot)} LOGICAL pgoutput ${options}`);
}

/** A walsender command: the cluster's system identifier and the server's current timeline. */
export function identifySystem(): Statement<{ systemid: string; timeline: number | string }> {
  return statement('IDENTIFY_SYSTEM');
}

/**
 * A walsender command: the history file of `timeline` (its ancestors and their switch points). The
 * walsender sends the file's bytes as they are, though the column is typed bytea.
 */
export function timelineHistory(timeline: number): Statement<{ filename: string; content: Buffer | string }> {
  if (!Number.isInteger(timeline) || timeline < 1) throw new Error(`not a timeline: ${timeline}`);
  return statement(`TIMELINE_HISTORY ${timeline}`);
}

/** A walsender command (PostgreSQL 17+): turns the slot's failover flag on or off; not while in use. */
export function alterSlotFailover(slot: string, failover: boolean): Statement {
  return statement(`ALTER_REPLICATION_SLOT ${quoteIdent(slot)} (FAILOVER ${failover})`);
}

/**
 * On the primary (16+): logs the running transactions now. A slot being created on a standby waits
 * for such a record, which the primary otherwise writes every 15 s and only when it writes anyway.
 */
export function logStandbySnapshot(): Statement {
  return statement('select pg_log_standby_snapshot()');
}

export function beginSnapshotRead(): Statement {
  return statement('begin isolation level repeatable read read only');
}

export function useSnapshot(snapshotName: string): Statement {
  return statement(`set transaction snapshot ${quoteLiteral(snapshotName)}`);
}

/**
 * The outbox's rows, oldest first, each with the id of the transaction that wrote it;
 * `pendingOnly`: the unprocessed ones (mark mode).
 */
export function declareSweepCursor(table: TableName, pendingOnly: boolean): Statement {
  const where = pendingOnly ? 'where processed_at is null' : '';
  return statement(
    `declare outbox_sweep no scroll cursor for select *, xmin::text as ${SWEPT_XMIN_COLUMN} from ${quoteTable(table)} ${where} order by seq`,
  );
}

export function fetchSweepPage(): Statement<Record<string, unknown>> {
  return statement('fetch 1000 from outbox_sweep');
}

export function endSnapshotRead(): Statement {
  return statement('commit');
}
