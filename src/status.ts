// `outbox-relay status`: what an operator asks first. Reads only catalogs, counts and the relay's
// own bookkeeping row (outbox_relay_slot, where the leader records its last problem:
// observability/slot-monitor.ts).
import type { Pool } from 'pg';
import { quoteTable } from './db/identifiers.js';
import type { TableName } from './wal/decode.js';

export interface RelayStatus {
  readonly slot: string;
  readonly slotExists: boolean;
  readonly active: boolean;
  /** PID of the walsender serving the slot (pg_replication_slots.active_pid). */
  readonly activePid: number | null;
  readonly confirmedLsn: string | null;
  /** WAL the server keeps for the slot: current LSN minus restart_lsn. */
  readonly retainedWalBytes: number | null;
  /** WAL not yet confirmed: current LSN minus confirmed_flush_lsn (what `status` judges lag by). */
  readonly replicationLagBytes: number | null;
  readonly walStatus: string | null;
  readonly pendingRows: number;
  readonly pendingRowsEstimated: boolean;
  readonly deadLetters: number;
  /** True while a relay process of this slot is connected (leader or standby). */
  readonly relayRunning: boolean;
  /** The running leader's last warning or error, with when it happened. */
  readonly lastError: string | null;
  readonly lastErrorAt: string | null;
  readonly healthy: boolean;
  readonly problem: string | undefined;
}

/** Above this many unconfirmed WAL bytes `status` reports the relay as lagging (exit status 1). */
export const LAGGING_BYTES = 1024 * 1024 * 1024;
// Exact counts stop being cheap on large tables; past this the planner's estimate is shown.
const EXACT_COUNT_LIMIT = 100_000;

export interface SlotFacts {
  readonly slot: string;
  readonly exists: boolean;
  readonly walStatus: string | null;
  readonly lagBytes: number | null;
}

/** Why `status` exits 1, or undefined when healthy. Pure. */
export function assessSlot(facts: SlotFacts, laggingBytes = LAGGING_BYTES): string | undefined {
  if (!facts.exists) return `replication slot ${facts.slot} does not exist`;
  if (facts.walStatus === 'lost')
    return `replication slot ${facts.slot} lost its WAL (max_slot_wal_keep_size)`;
  if (facts.lagBytes !== null && facts.lagBytes > laggingBytes)
    return `replication slot ${facts.slot} is ${facts.lagBytes} bytes behind (limit ${laggingBytes})`;
  return undefined;
}

/**
 * The application_name of a relay's connections to its slot: the advisory-lock session every
 * instance keeps (leader.ts) and the leader's replication connection (wal/stream.ts).
 */
export function relayApplicationNames(slot: string): string[] {
  return [`outbox-relay:${slot}:lock`, `outbox-relay:${slot}`];
}

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
  // Whether a relay runs is read from its sessions, not from a heartbeat row: an idle relay must not
  // write WAL (its slot could then never rest), and a dead one's sessions vanish at once.
  const { rows: relay } = await pool.query<{
    running: boolean;
    last_error: string | null;
    last_error_at: Date | null;
  }>(
    `select exists (select 1 from pg_stat_activity
                     where datname = current_database() and application_name = any($2)) as running,
            (select last_error from outbox_relay_slot where slot_name = $1) as last_error,
            (select last_error_at from outbox_relay_slot where slot_name = $1) as last_error_at`,
    [slot, relayApplicationNames(slot)],
  );
  const pending = await countPending(pool, table, markMode);
  const { rows: dead } = await pool.query<{ count: string }>(
    `select count(*)::text as count from outbox_dead_letter`,
  );
  const row = slots[0];
  const { running, last_error: lastError, last_error_at: lastErrorAt } = relay[0]!;
  const lag = row?.lag == null ? null : Number(row.lag);
  const problem = assessSlot({
    slot,
    exists: row !== undefined,
    walStatus: row?.wal_status ?? null,
    lagBytes: lag,
  });
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
    relayRunning: running,
    lastError: running ? lastError : null,
    lastErrorAt: running ? (lastErrorAt?.toISOString() ?? null) : null,
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
    `relay                ${status.relayRunning ? 'running' : 'not running'}`,
  ];
  if (status.lastError) lines.push(`last error           ${status.lastErrorAt} ${status.lastError}`);
  lines.push(`health               ${status.healthy ? 'ok' : `PROBLEM: ${status.problem}`}`);
  return lines.join('\n');
}
