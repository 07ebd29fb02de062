// `outbox-relay status`: what an operator asks first. Reads only catalogs and counts.
import type { Pool } from 'pg';
import { quoteTable } from './db/identifiers.js';
import type { TableName } from './wal/decode.js';

export interface RelayStatus {
  readonly slot: string;
  readonly slotExists: boolean;
  readonly active: boolean;
  readonly activePid: number | null;
  readonly confirmedLsn: string | null;
  readonly retainedWalBytes: number | null;
  readonly replicationLagBytes: number | null;
  readonly walStatus: string | null;
  readonly pendingRows: number;
  readonly pendingRowsEstimated: boolean;
  readonly deadLetters: number;
  readonly healthy: boolean;
  readonly problem: string | undefined;
}

/** Above this many unconfirmed WAL bytes `status` reports the relay as lagging (exit status 1). */
export const LAGGING_BYTES = 1024 * 1024 * 1024;
// Exact counts stop being cheap on large tables; past this the planner's estimate is shown.
const EXACT_COUNT_LIMIT = 100_000;

export async function readStatus(
  pool: Pool,
  slot: string,
  table: TableName,
  markMode: boolean,
): Promise<RelayStatus> {
  const { rows: slots } = await pool.query<{
    active: boolean;
    active_pid: number | null;
    confirmed_flush_lsn: string | null;
    retained: string | null;
    lag: string | null;
    wal_status: string | null;
  }>(
    `select active, active_pid, confirmed_flush_lsn::text,
            (pg_current_wal_lsn() - restart_lsn)::bigint::text as retained,
            (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint::text as lag, wal_status
       from pg_replication_slots where slot_name = $1`,
    [slot],
  );
  const pending = await countPending(pool, table, markMode);
  const { rows: dead } = await pool.query<{ count: string }>(
    `select count(*)::text as count from outbox_dead_letter`,
  );
  const row = slots[0];
  const lag = row?.lag == null ? null : Number(row.lag);
  const problem = !row
    ? `replication slot ${slot} does not exist`
    : row.wal_status === 'lost'
      ? `replication slot ${slot} lost its WAL (max_slot_wal_keep_size)`
      : lag !== null && lag > LAGGING_BYTES
        ? `replication slot ${slot} is ${lag} bytes behind (limit ${LAGGING_BYTES})`
        : undefined;
  return {
    slot,
    slotExists: row !== undefined,
    active: row?.active ?? false,
    activePid: row?.active_pid ?? null,
    confirmedLsn: row?.confirmed_flush_lsn ?? null,
    retainedWalBytes: row?.retained == null ? null : Number(row.retained),
    replicationLagBytes: lag,
    walStatus: row?.wal_status ?? null,
    pendingRows: pending.count,
    pendingRowsEstimated: pending.estimated,
    deadLetters: Number(dead[0]?.count ?? 0),
    healthy: problem === undefined,
    problem,
  };
}

async function countPending(
  pool: Pool,
  table: TableName,
  markMode: boolean,
): Promise<{ count: number; estimated: boolean }> {
  const { rows: estimate } = await pool.query<{ estimate: number }>(
    `select greatest(reltuples, 0)::float8 as estimate from pg_class where oid = $1::regclass`,
    [quoteTable(table)],
  );
  const estimated = estimate[0]?.estimate ?? 0;
  if (estimated > EXACT_COUNT_LIMIT && !markMode) return { count: Math.round(estimated), estimated: true };
  const where = markMode ? 'where processed_at is null' : '';
  const { rows } = await pool.query<{ count: string }>(
    `select count(*)::text as count from ${quoteTable(table)} ${where}`,
  );
  return { count: Number(rows[0]?.count ?? 0), estimated: false };
}

export function formatStatus(status: RelayStatus): string {
  const lines = [
    `slot                 ${status.slot}${status.slotExists ? '' : ' (missing)'}`,
    `active               ${status.active ? `yes (pid ${status.activePid})` : 'no'}`,
    `confirmed LSN        ${status.confirmedLsn ?? '-'}`,
    `retained WAL bytes   ${status.retainedWalBytes ?? '-'}`,
    `replication lag      ${status.replicationLagBytes ?? '-'} bytes`,
    `WAL status           ${status.walStatus ?? '-'}`,
    `pending rows         ${status.pendingRowsEstimated ? '~' : ''}${status.pendingRows}`,
    `dead letters         ${status.deadLetters}`,
    `health               ${status.healthy ? 'ok' : `PROBLEM: ${status.problem}`}`,
  ];
  return lines.join('\n');
}
