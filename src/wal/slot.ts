// Slot and publication: checks before streaming, and creating a missing slot without losing events.
//
// A slot created now only sees transactions that commit after its consistent point; outbox rows
// committed earlier (before the first start, or while a lost slot was missing) are still in the table,
// because rows are completed before their LSN is confirmed. Creating the slot with an exported
// snapshot and publishing exactly the rows that snapshot sees closes that gap with no overlap.
// The slot's row in outbox_relay_slot records whether that sweep finished: a crash mid-sweep leaves
// it unfinished, and the next start drops the slot and sweeps again.
import { ConfigError } from '../config-fields.js';
import { run } from '../db/database.js';
import type { Connection, Database, Queryable } from '../db/database.js';
import * as preflightSql from '../db/preflight-sql.js';
import * as slotSql from '../db/slot-sql.js';
import type { TableName } from './decode.js';
import { assessFailover } from './failover.js';
import { invalidationOf } from './invalidation.js';
import { sqlState } from '../errors.js';
import { parseTimelineHistory } from './timeline.js';
import type { ServerIdentity, TimelineHistory } from './timeline.js';
import { parseLsn } from './lsn.js';
import { sleep } from '../pipeline/sleep.js';
import type { Lsn } from './lsn.js';

export class PreflightError extends Error {
  override name = 'PreflightError';
}

export interface SlotInfo {
  readonly confirmedLsn: Lsn;
  readonly activePid: number | null;
  /**
   * The slot can no longer stream: PostgreSQL removed WAL it needed (wal_status 'lost', past
   * max_slot_wal_keep_size) or it has no confirmed position. It still holds its name: drop it first.
   */
  readonly lost: boolean;
  /** Why it cannot stream (wal_removed, rows_removed, idle_timeout, ...): see wal/invalidation.ts. */
  readonly invalidation: string | undefined;
  /** Whether the slot is a failover slot; null before PostgreSQL 17. */
  readonly failover: boolean | null;
}

/**
 * Checks wal_level, the table and the publication; creates the publication when it is missing, on
 * `primary` when `db` is its hot standby (then both need wal_level = logical).
 */
export async function preflight(
  db: Queryable,
  table: TableName,
  publication: string,
  primary: Queryable = db,
): Promise<void> {
  for (const server of new Set([db, primary])) {
    const { rows: settings } = await run(server, preflightSql.walLevel());
    if (settings[0]?.wal_level !== 'logical') {
      throw new PreflightError(
        `wal_level is ${settings[0]?.wal_level}${server === db ? '' : ' on the primary'}: set wal_level = logical and restart PostgreSQL`,
      );
    }
  }
  const { rows: tables } = await run(db, preflightSql.tableExists(table));
  if (tables.length === 0) {
    throw new PreflightError(
      `table ${table.schema}.${table.name} does not exist: run 'outbox-relay migrate'`,
    );
  }
  const { rows: publications } = await run(db, preflightSql.publicationOf(publication));
  if (publications.length === 0) {
    await run(primary, preflightSql.createPublication(publication, table));
    if (primary !== db) await replayed(db, publication);
    return;
  }
  const { rows: members } = await run(db, preflightSql.publicationHasTable(publication, table));
  if (!publications[0]!.pubinsert || members.length === 0) {
    throw new PreflightError(
      `publication ${publication} must publish inserts of ${table.schema}.${table.name}: ` +
        `create publication ${publication} for table ${table.schema}.${table.name} with (publish = 'insert')`,
    );
  }
}

const REPLAY_LIMIT_MS = 60_000;

/** Waits until the standby replayed the publication created on its primary. */
async function replayed(standby: Queryable, publication: string): Promise<void> {
  const since = Date.now();
  for (let attempt = 1; ; attempt++) {
    const { rows } = await run(standby, preflightSql.publicationOf(publication));
    if (rows.length > 0) return;
    if (Date.now() - since > REPLAY_LIMIT_MS)
      throw new PreflightError(
        `publication ${publication}, created on the primary, has not reached the standby after ${REPLAY_LIMIT_MS} ms: is it replaying?`,
      );
    await sleep(Math.min(200, 2 ** attempt));
  }
}

export async function readSlot(db: Queryable, slot: string): Promise<SlotInfo | undefined> {
  const { rows } = await run(db, slotSql.readSlot(slot));
  const row = rows[0];
  if (!row) return undefined;
  if (row.plugin !== 'pgoutput' || row.database !== row.current_db) {
    throw new PreflightError(
      `replication slot ${slot} belongs to plugin ${row.plugin} in database ${row.database}: ` +
        `choose another OUTBOX_SLOT or drop that slot`,
    );
  }
  const { active_pid: activePid, failover } = row;
  const invalidation = invalidationOf({
    invalidationReason: row.invalidation_reason,
    walStatus: row.wal_status,
    confirmedFlushLsn: row.confirmed_flush_lsn,
  });
  if (invalidation !== undefined || row.confirmed_flush_lsn === null) {
    return { confirmedLsn: 0n, activePid, lost: true, invalidation, failover };
  }
  return {
    confirmedLsn: parseLsn(row.confirmed_flush_lsn),
    activePid,
    lost: false,
    invalidation,
    failover,
  };
}

/**
 * OUTBOX_SLOT_FAILOVER's checks on the primary (wal/failover.ts): throws ConfigError (exit 2) when
 * the server cannot keep the slot across a failover, returns what is worth a warning.
 */
export async function checkFailover(db: Queryable, wanted: boolean): Promise<readonly string[]> {
  if (!wanted) return [];
  const { rows } = await run(db, preflightSql.failoverSettings());
  const facts = rows[0]!;
  const verdict = assessFailover(wanted, {
    version: facts.version,
    synchronizedStandbySlots: facts.synchronized_standby_slots,
    physicalSlots: facts.physical_slots,
  });
  if (verdict.refusal) throw new ConfigError('OUTBOX_SLOT_FAILOVER', verdict.refusal);
  return verdict.warnings;
}

/** IDENTIFY_SYSTEM on a replication connection: which cluster, and which timeline of it. */
export async function identifyServer(db: Pick<Database, 'connectReplication'>): Promise<ServerIdentity> {
  const replication = await db.connectReplication();
  try {
    const { rows } = await run(replication, slotSql.identifySystem());
    return { systemId: String(rows[0]!.systemid), timeline: Number(rows[0]!.timeline) };
  } finally {
    await replication.release();
  }
}

/**
 * TIMELINE_HISTORY on a replication connection: where each ancestor of `timeline` ended. Undefined
 * when the server answers with an error (timeline 1 has no history; a removed file); a lost
 * connection throws.
 */
export async function readTimelineHistory(
  db: Pick<Database, 'connectReplication'>,
  timeline: number,
): Promise<TimelineHistory | undefined> {
  const replication = await db.connectReplication();
  try {
    const { rows } = await run(replication, slotSql.timelineHistory(timeline));
    const content = rows[0]?.content;
    return content === undefined ? undefined : parseTimelineHistory(content.toString());
  } catch (error) {
    if (sqlState(error) === undefined) throw error;
    return undefined;
  } finally {
    await replication.release();
  }
}

/** Sets an existing slot's failover flag (PostgreSQL 17+) on a replication connection. */
export async function setSlotFailover(
  db: Pick<Database, 'connectReplication'>,
  slot: string,
  failover: boolean,
): Promise<void> {
  const replication = await db.connectReplication();
  try {
    await run(replication, slotSql.alterSlotFailover(slot, failover));
  } finally {
    await replication.release();
  }
}

/** True when the slot's creation sweep finished (or the slot predates this bookkeeping). */
export async function slotSwept(db: Queryable, slot: string): Promise<boolean> {
  const { rows } = await run(db, slotSql.slotSwept(slot));
  return rows[0]?.swept ?? true;
}

export async function markSlotSwept(db: Queryable, slot: string): Promise<void> {
  await run(db, slotSql.markSlotSwept(slot));
}

export async function dropSlot(db: Queryable, slot: string): Promise<void> {
  await run(db, slotSql.dropSlot(slot));
}

export interface SlotCreationOptions {
  /** Where outbox_relay_slot is written (the primary, when the slot is made on its standby). */
  readonly bookkeeping?: Queryable;
  /** Called every second while the slot is being created (a standby's waits for the primary). */
  readonly whileCreating?: () => Promise<void>;
}

const CREATION_NUDGE_MS = 1_000;

/** `work`, with `nudge` called now and every second until it settles (its failures ignored). */
async function repeating<T>(work: Promise<T>, nudge: (() => Promise<void>) | undefined): Promise<T> {
  if (!nudge) return work;
  const poke = (): void => void nudge().catch(() => undefined);
  poke();
  const timer = setInterval(poke, CREATION_NUDGE_MS);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

export interface NewSlot {
  readonly consistentLsn: Lsn;
  /** Rows of the outbox as of the slot's consistent point, oldest first, in pages. */
  readonly rows: AsyncIterable<Record<string, unknown>[]>;
}

/**
 * Creates the slot with an exported snapshot and returns the rows that snapshot sees, which are the
 * events the new slot will never stream. `pendingOnly` restricts them to unprocessed rows (mark mode).
 */
export async function createSlotWithSnapshot(
  db: Pick<Database, 'query' | 'connectReplication' | 'reserveTextConnection'>,
  slot: string,
  table: TableName,
  pendingOnly: boolean,
  failover = false,
  { bookkeeping = db, whileCreating }: SlotCreationOptions = {},
): Promise<NewSlot> {
  await run(bookkeeping, slotSql.registerSlot(slot));
  const replication = await db.connectReplication();
  try {
    const reader = await db.reserveTextConnection();
    try {
      const { rows } = await repeating(
        run(replication, slotSql.createSlotExportingSnapshot(slot, failover)),
        whileCreating,
      );
      const consistentLsn = parseLsn(rows[0]!.consistent_point);
      await run(reader, slotSql.beginSnapshotRead());
      // The snapshot stays importable only while the replication connection is idle and open.
      await run(reader, slotSql.useSnapshot(rows[0]!.snapshot_name));
      return { consistentLsn, rows: pages(reader, table, pendingOnly) };
    } catch (error) {
      await reader.release(true);
      throw error;
    }
  } finally {
    // Also when no reader could be had: the connection is not left open.
    await replication.release();
  }
}

// Rows come back as text, as the WAL delivers them, so both paths decode rows the same way.
async function* pages(
  reader: Connection,
  table: TableName,
  pendingOnly: boolean,
): AsyncIterable<Record<string, unknown>[]> {
  let failed = true;
  try {
    await run(reader, slotSql.declareSweepCursor(table, pendingOnly));
    for (;;) {
      const { rows } = await run(reader, slotSql.fetchSweepPage());
      if (rows.length === 0) break;
      yield rows;
    }
    await run(reader, slotSql.endSnapshotRead());
    failed = false;
  } finally {
    await reader.release(failed);
  }
}
