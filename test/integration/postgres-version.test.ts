// The version matrix (scripts/test-matrix.sh) is only worth its time if each run really talks to the
// server version it names: deploy/local/postgres.sh picks it from OUTBOX_PG_VERSION.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { adminQuery, ensureServices } from '../kit/services.js';

test('the local PostgreSQL is the major version OUTBOX_PG_VERSION names (the system one by default)', async () => {
  await ensureServices();
  const systemMajor = Math.max(...readdirSync('/usr/lib/postgresql').map(Number));
  const expected = Number(process.env.OUTBOX_PG_VERSION || systemMajor);
  const { rows } = await adminQuery(
    `select current_setting('server_version_num')::int / 10000 as major, current_setting('wal_level') as wal_level`,
  );
  assert.deepEqual(rows[0], { major: expected, wal_level: 'logical' });
});
