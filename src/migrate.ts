// `outbox-relay migrate`: applies the SQL in migrations/ with drizzle's migrator. Idempotent, and safe
// when several instances deploy at once (they queue on an advisory lock).
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../migrations', import.meta.url));

export async function migrateDatabase(connectionString: string): Promise<void> {
  const client = new pg.Client({ connectionString, application_name: 'outbox-relay:migrate' });
  await client.connect();
  try {
    await client.query(`select pg_advisory_lock(hashtextextended('outbox-relay:migrate', 0))`);
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await client.end();
  }
}
