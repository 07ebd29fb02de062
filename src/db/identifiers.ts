// Identifiers from configuration are validated by config.ts and still quoted here: they are never
// pasted into SQL as they came.
import type { TableName } from '../wal/decode.js';

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteTable(table: TableName): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** DATABASE_URL's database; PostgreSQL's default, the user's name, when the URL names none. */
export function databaseName(url: string): string {
  try {
    const { pathname, username } = new URL(url);
    return decodeURIComponent(pathname.slice(1)) || decodeURIComponent(username) || 'postgres';
  } catch {
    return 'postgres';
  }
}
