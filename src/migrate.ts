// `outbox-relay migrate`: applies the SQL in migrations/ with drizzle's migrator. Idempotent, and safe
// when several instances deploy at once (they queue on an advisory lock).
import { fileURLToPath } from 'node:url';
import * as lockSql from './db/lock-sql.js';
import { applyMigrations } from './db/postgres.js';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../migrations', import.meta.url));

export async function migrateDatabase(connectionString: string): Promise<void> {
  await applyMigrations(connectionString, 'outbox-relay:migrate', MIGRATIONS_FOLDER, lockSql.migrationLock());
}
