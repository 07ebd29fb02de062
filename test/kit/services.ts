// test/kit/ is what the tests and the bench (a package of its own) share; test/support/ is the tests'
// alone.
//
// The local services the integration tests talk to: started by deploy/local/up.sh (idempotent),
// at the ports deploy/local/env.sh sets.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { migrateDatabase } from '../../src/index.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const PG_PORT = Number(process.env.OUTBOX_PG_PORT ?? 15432);
export const KAFKA_BROKER = `127.0.0.1:${process.env.OUTBOX_KAFKA_PORT ?? 19092}`;
export const RABBITMQ_URL = `amqp://guest:guest@127.0.0.1:${process.env.OUTBOX_RABBITMQ_PORT ?? 16672}`;
export const SCHEMA_REGISTRY_URL = `http://127.0.0.1:${process.env.OUTBOX_SCHEMA_REGISTRY_PORT ?? 18081}/apis/ccompat/v6`;
export const ADMIN_URL = `postgres://postgres@127.0.0.1:${PG_PORT}/postgres`;

let servicesUp: Promise<void> | undefined;

/** Brings the local services up once per test process (a no-op when they already run). */
export function ensureServices(): Promise<void> {
  servicesUp ??= localService('up').then(() => undefined);
  return servicesUp;
}

/** Runs deploy/local/<script>.sh with the given arguments, e.g. localService('kafka', 'stop'). */
export async function localService(script: string, ...args: string[]): Promise<void> {
  await run('bash', [`${ROOT}/deploy/local/${script}.sh`, ...args], { cwd: ROOT, timeout: 300_000 });
}

/** A short random suffix for names a test owns (databases, slots, topics, exchanges). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  readonly pool: pg.Pool;
  /** A slot name of this database's own. */
  readonly slot: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database with its own replication slot name. */
export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  await ensureServices();
  const name = uniqueName(prefix);
  await adminQuery(`create database ${name}`);
  const url = `postgres://postgres@127.0.0.1:${PG_PORT}/${name}`;
  await migrateDatabase(url);
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  // Tests stop and crash PostgreSQL: an idle client's connection then ends, which is no test failure.
  pool.on('error', () => undefined);
  // The business table commitEvents writes beside each event; created once here, because concurrent
  // `create table if not exists` race in PostgreSQL's catalog.
  await pool.query('create table business_rows (id serial primary key, note text)');
  const slot = `slot_${name}`;
  return {
    name,
    url,
    pool,
    slot,
    async drop() {
      await pool.end();
      await releaseSlot(slot);
      await adminQuery(`drop database if exists ${name} with (force)`);
    },
  };
}

/** What runs one statement: a pool, a client, or `{ query: adminQuery }`. */
export interface Queryable {
  query<Row extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<Row>>;
}

/** The server's current WAL position, e.g. 0/16B3748. */
export async function currentWalLsn(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
  return rows[0]!.lsn;
}

/**
 * Drops `slot` for good, also while the walsender of a relay that just ended still holds it (on a
 * loaded machine it outlives its client for a moment): a database with an active logical slot cannot
 * be dropped, not even with (force).
 */
async function releaseSlot(slot: string): Promise<void> {
  await waitFor(`slot ${slot} dropped`, async () => {
    await adminQuery(
      'select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = $1 and active_pid is not null',
      [slot],
    );
    await dropSlotIfExists({ query: adminQuery }, slot);
    return true;
  });
}

/** Drops the replication slot `slot` when it exists (an active one fails). */
export async function dropSlotIfExists(db: Queryable, slot: string): Promise<void> {
  await db.query(
    `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1`,
    [slot],
  );
}

export async function adminQuery<Row extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<Row>> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await client.query<Row>(text, values);
  } finally {
    await client.end();
  }
}
