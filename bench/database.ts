// A fresh, migrated database per scenario, with a monitoring connection of the bench's own.
import pg from 'pg';
import { createTestDatabase } from '../test/kit/services.js';
import type { TestDatabase } from '../test/kit/services.js';
import { readStat } from './proc.js';

export interface BenchDatabase extends TestDatabase {
  /** A connection for the bench's own queries while a scenario is measured. */
  readonly monitor: pg.Client;
  readonly monitorPid: number;
  /** The cluster's postmaster, whose children are PostgreSQL's CPU. */
  readonly postmasterPid: number;
}

export async function createBenchDatabase(): Promise<BenchDatabase> {
  const db = await createTestDatabase('bench');
  const monitor = new pg.Client({ connectionString: db.url, application_name: 'outbox-bench-monitor' });
  await monitor.connect();
  const { rows } = await monitor.query<{ pid: number }>('select pg_backend_pid() as pid');
  const monitorPid = rows[0]!.pid;
  const postmasterPid = readStat(monitorPid)?.ppid;
  if (!postmasterPid)
    throw new Error('cannot find the PostgreSQL postmaster: is the server on this machine?');
  return {
    ...db,
    monitor,
    monitorPid,
    postmasterPid,
    async drop() {
      await monitor.end().catch(() => undefined);
      await db.drop();
    },
  };
}

export async function outboxRows(db: BenchDatabase): Promise<number> {
  const { rows } = await db.monitor.query<{ count: string }>('select count(*)::text as count from outbox');
  return Number(rows[0]!.count);
}

/** Creates a pgoutput slot now, so it sees every transaction committed from here on. */
export async function createSlot(db: BenchDatabase, slot: string): Promise<void> {
  await db.monitor.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
}
