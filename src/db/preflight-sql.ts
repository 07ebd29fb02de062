// Checks before streaming (wal/slot.ts preflight): wal_level, the outbox table, the publication.
import type { TableName } from '../wal/decode.js';
import { statement } from './database.js';
import type { Statement } from './database.js';
import { quoteIdent, quoteTable } from './identifiers.js';

export function walLevel(): Statement<{ wal_level: string }> {
  return statement(`select current_setting('wal_level') as wal_level`);
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
