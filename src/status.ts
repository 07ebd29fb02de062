// `outbox-relay status`: what an operator asks first. Reads only catalogs, counts and the relay's
// own bookkeeping row (outbox_relay_slot, where the leader records its last problem:
// observability/slot-monitor.ts).
import { run } from './db/database.js';
import type { Queryable } from './db/database.js';
import * as statusSql from './db/status-sql.js';
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
  /** Why PostgreSQL invalidated the slot (17+: wal_removed, rows_removed, idle_timeout, ...). */
  readonly invalidationReason: string | null;
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
  readonly invalidationReason?: string | null;
}

/** Why `status` exits 1, or undefined when healthy. Pure. */
export function assessSlot(facts: SlotFacts, laggingBytes = LAGGING_BYTES): string | undefined {
  if (!facts.exists) return `replication slot ${facts.slot} does not exist`;
  if (facts.invalidationReason)
    return `replication slot ${facts.slot} was invalidated (${facts.invalidationReason}): the relay recreates it and sweeps the table`;
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
  db: Queryable,
  slot: string,
  table: TableName,
  markMode: boolean,
): Promise<RelayStatus> {
  const { rows: slots } = await run(db, statusSql.slotStatus(slot));
  // Whether a relay runs is read from its sessions, not from a heartbeat row: an idle relay must not
  // write WAL (its slot could then never rest), and a dead one's sessions vanish at once.
  const { rows: relay } = await run(db, statusSql.relaySessions(slot, relayApplicationNames(slot)));
  const pending = await countPending(db, table, markMode);
  const { rows: dead } = await run(db, statusSql.countDeadLetters());
  const row = slots[0];
  const { running, last_error: lastError, last_error_at: lastErrorAt } = relay[0]!;
  const lag = row?.lag == null ? null : Number(row.lag);
  const problem = assessSlot({
    slot,
    exists: row !== undefined,
    walStatus: row?.wal_status ?? null,
    lagBytes: lag,
    invalidationReason: row?.invalidation_reason ?? null,
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
    invalidationReason: row?.invalidation_reason ?? null,
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
  db: Queryable,
  table: TableName,
  markMode: boolean,
): Promise<{ count: number; estimated: boolean }> {
  const { rows: estimate } = await run(db, statusSql.estimatedRows(table));
  const estimated = estimate[0]?.estimate ?? 0;
  if (estimated > EXACT_COUNT_LIMIT && !markMode) return { count: Math.round(estimated), estimated: true };
  const { rows } = await run(db, statusSql.countPending(table, markMode));
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
    `invalidated          ${status.invalidationReason ?? '-'}`,
    `pending rows         ${status.pendingRowsEstimated ? '~' : ''}${status.pendingRows}`,
    `dead letters         ${status.deadLetters}`,
    `relay                ${status.relayRunning ? 'running' : 'not running'}`,
  ];
  if (status.lastError) lines.push(`last error           ${status.lastErrorAt} ${status.lastError}`);
  lines.push(`health               ${status.healthy ? 'ok' : `PROBLEM: ${status.problem}`}`);
  return lines.join('\n');
}
