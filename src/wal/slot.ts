// Slot and publication: checks before streaming, and creating a missing slot without losing events.
//
// A slot created now only sees transactions that commit after its consistent point; outbox rows
// committed earlier (before the first start, or while a lost slot was missing) are still in the table,
// because rows are completed before their LSN is confirmed. Creating the slot with an exported
// snapshot and publishing exactly the rows that snapshot sees closes that gap with no overlap.
// The slot's row in outbox_relay_slot records whether that sweep finished: a crash mid-sweep leaves
// it unfinished, and the next start drops the slot and sweeps again.
import pg from 'pg';
import type { Pool } from 'pg';
import { quoteIdent, quoteLiteral, quoteTable } from '../db/identifiers.js';
import type { TableName } from './decode.js';
import { parseLsn } from './lsn.js';
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
}

/** Checks wal_level, the table and the publication; creates the publication when it is missing. */
export async function preflight(pool: Pool, table: TableName, publication: string): Promise<void> {
  const { rows: settings } = await pool.query<{ wal_level: string }>(
    `select current_setting('wal_level') as wal_level`,
  );
  if (settings[0]?.wal_level !== 'logical') {
    throw new PreflightError(
      `wal_level is ${settings[0]?.wal_level}: set wal_level = logical and restart PostgreSQL`,
    );
  }
  const { rows: tables } = await pool.query(
    `select 1 from pg_tables where schemaname = $1 and tablename = $2`,
    [table.schema, table.name],
  );
  if (tables.length === 0) {
    throw new PreflightError(
      `table ${table.schema}.${table.name} does not exist: run 'outbox-relay migrate'`,
    );
  }
  const { rows: publications } = await pool.query<{ pubinsert: boolean }>(
    `select pubinsert from pg_publication where pubname = $1`,
    [publication],
  );
  if (publications.length === 0) {
    await pool.query(
      `create publication ${quoteIdent(publication)} for table ${quoteTable(table)} with (publish = 'insert')`,
    );
    return;
  }
  const { rows: members } = await pool.query(
    `select 1 from pg_publication_tables where pubname = $1 and schemaname = $2 and tablename = $3`,
    [publication, table.schema, table.name],
  );
  if (!publications[0]!.pubinsert || members.length === 0) {
    throw new PreflightError(
      `publication ${publication} must publish inserts of ${table.schema}.${table.name}: ` +
        `create publication ${publication} for table ${table.schema}.${table.name} with (publish = 'insert')`,
    );
  }
}

export async function readSlot(pool: Pool, slot: string): Promise<SlotInfo | undefined> {
  const { rows } = await pool.query<{
    plugin: string;
    database: string;
    current_db: string;
    confirmed_flush_lsn: string | null;
    active_pid: number | null;
    wal_status: string | null;
  }>(
    `select plugin, database, current_database() as current_db, confirmed_flush_lsn::text,
            active_pid, wal_status
       from pg_replication_slots where slot_name = $1`,
    [slot],
  );
  const row = rows[0];
  if (!row) return undefined;
  if (row.plugin !== 'pgoutput' || row.database !== row.current_db) {
    throw new PreflightError(
      `replication slot ${slot} belongs to plugin ${row.plugin} in database ${row.database}: ` +
        `choose another OUTBOX_SLOT or drop that slot`,
    );
  }
  if (row.wal_status === 'lost' || row.confirmed_flush_lsn === null) {
    return { confirmedLsn: 0n, activePid: row.active_pid, lost: true };
  }
  return { confirmedLsn: parseLsn(row.confirmed_flush_lsn), activePid: row.active_pid, lost: false };
}

/** True when the slot's creation sweep finished (or the slot predates this bookkeeping). */
export async function slotSwept(pool: Pool, slot: string): Promise<boolean> {
  const { rows } = await pool.query<{ swept: boolean }>(
    `select swept_at is not null as swept from outbox_relay_slot where slot_name = $1`,
    [slot],
  );
  return rows[0]?.swept ?? true;
}

export async function markSlotSwept(pool: Pool, slot: string): Promise<void> {
  await pool.query(`update outbox_relay_slot set swept_at = now() where slot_name = $1`, [slot]);
}

export async function dropSlot(pool: Pool, slot: string): Promise<void> {
  await pool.query(
    `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1`,
    [slot],
  );
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
  pool: Pool,
  connectionString: string,
  slot: string,
  table: TableName,
  pendingOnly: boolean,
): Promise<NewSlot> {
  await pool.query(
    `insert into outbox_relay_slot (slot_name) values ($1)
       on conflict (slot_name) do update set created_at = now(), swept_at = null`,
    [slot],
  );
  const replication = new pg.Client({ connectionString, replication: 'database' } as pg.ClientConfig);
  await replication.connect();
  const reader = await pool.connect();
  let consistentLsn: Lsn;
  try {
    const { rows } = await replication.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${quoteIdent(slot)} LOGICAL pgoutput EXPORT_SNAPSHOT`,
    );
    consistentLsn = parseLsn(rows[0]!.consistent_point);
    await reader.query('begin isolation level repeatable read read only');
    // The snapshot stays importable only while the replication connection is idle and open.
    await reader.query(`set transaction snapshot ${quoteLiteral(rows[0]!.snapshot_name)}`);
  } catch (error) {
    reader.release(true);
    throw error;
  } finally {
    await replication.end();
  }
  const where = pendingOnly ? 'where processed_at is null' : '';
  return {
    consistentLsn,
    rows: pages(reader, `select * from ${quoteTable(table)} ${where} order by seq`),
  };
}

async function* pages(reader: pg.PoolClient, query: string): AsyncIterable<Record<string, unknown>[]> {
  let failed = true;
  try {
    // Text results, as the WAL delivers them, so both paths decode rows the same way.
    await reader.query({ text: `declare outbox_sweep no scroll cursor for ${query}`, types: textTypes });
    for (;;) {
      const { rows } = await reader.query<Record<string, unknown>>({
        text: 'fetch 1000 from outbox_sweep',
        types: textTypes,
      });
      if (rows.length === 0) break;
      yield rows;
    }
    await reader.query('commit');
    failed = false;
  } finally {
    reader.release(failed);
  }
}

const textTypes = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;
