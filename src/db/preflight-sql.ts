// Checks before streaming (wal/slot.ts preflight): wal_level, the outbox table, the publication.
import type { TableName } from '../wal/decode.js';
import { statement } from './database.js';
import type { Statement } from './database.js';
import { quoteIdent, quoteTable } from './identifiers.js';

export function walLevel(): Statement<{ wal_level: string }> {
  return statement(`select current_setting('wal_level') as wal_level`);
}

/** What OUTBOX_SLOT_FAILOVER needs of the primary (wal/failover.ts decides on it). */
export interface FailoverSettingsRow {
  /** server_version_num, e.g. 170010 */
  version: number;
  in_recovery: boolean;
  /** null before PostgreSQL 17. */
  synchronized_standby_slots: string | null;
  /** The physical slots of the cluster, and whether a standby streams from each. */
  physical_slots: { name: string; active: boolean }[];
}

export function failoverSettings(): Statement<FailoverSettingsRow> {
  return statement(
    `select current_setting('server_version_num')::int as version, pg_is_in_recovery() as in_recovery,
            current_setting('synchronized_standby_slots', true) as synchronized_standby_slots,
            coalesce((select json_agg(json_build_object('name', slot_name, 'active', active))
                        from pg_replication_slots where slot_type = 'physical'), '[]') as physical_slots`,
  );
}

export function tableExists(table: TableName): Statement {
  return statement(`select 1 from pg_tables where schemaname = $1 and tablename = $2`, [
    table.schema,
    table.name,
  ]);
}

export function publicationOf(publication: string): Statement<{ pubinsert: boolean }> {
  return statement(`select pubinsert from pg_publication where pubname = $1`, [publication]);
}

export function createPublication(publication: string, table: TableName): Statement {
  return statement(
    `create publication ${quoteIdent(publication)} for table ${quoteTable(table)} with (publish = 'insert')`,
  );
}

export function publicationHasTable(publication: string, table: TableName): Statement {
  return statement(
    `select 1 from pg_publication_tables where pubname = $1 and schemaname = $2 and tablename = $3`,
    [publication, table.schema, table.name],
  );
}

/** What wal/standby.ts decides on, apart from the system identifier (IDENTIFY_SYSTEM gives that). */
export function serverFacts(): Statement<{
  version: number;
  in_recovery: boolean;
  database: string;
  hot_standby_feedback: boolean;
}> {
  return statement(
    `select current_setting('server_version_num')::int as version, pg_is_in_recovery() as in_recovery,
            current_database() as database,
            current_setting('hot_standby_feedback')::boolean as hot_standby_feedback`,
  );
}
