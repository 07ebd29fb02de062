// Completion against a real PostgreSQL: which of a batch's transactions other sessions cannot see
// yet. A transaction whose commit the WAL already carries may still be invisible for a moment; the
// completion store waits for it rather than missing its rows (src/completion.ts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { run } from '../../src/db/database.js';
import { runningXids } from '../../src/db/completion-sql.js';
import { createTestDatabase } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('completion');
});
after(() => db.drop());

async function openTransaction(): Promise<{ xid: number; client: pg.Client }> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query('begin');
  const { rows } = await client.query<{ xid: string }>('select pg_current_xact_id()::xid::text as xid');
  return { xid: Number(rows[0]!.xid), client };
}

async function running(xids: number[]): Promise<number[]> {
  const { rows } = await run(db.pool, runningXids(xids));
  return rows.map(({ x }) => Number(x)).sort((a, b) => a - b);
}

test('the newest open transaction counts as not visible yet (at or above the snapshot xmax)', async () => {
  const { xid, client } = await openTransaction();
  try {
    assert.deepEqual(await running([xid]), [xid]);
    await client.query('commit');
    assert.deepEqual(await running([xid]), []);
  } finally {
    await client.end();
  }
});

test('an older open transaction counts as not visible yet (in the snapshot running list)', async () => {
  const older = await openTransaction();
  const newer = await openTransaction();
  try {
    await newer.client.query('commit');
    assert.deepEqual(await running([older.xid, newer.xid]), [older.xid]);
    await older.client.query('rollback');
    assert.deepEqual(await running([older.xid, newer.xid]), []);
  } finally {
    await older.client.end();
    await newer.client.end();
  }
});
