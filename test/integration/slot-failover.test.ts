// OUTBOX_SLOT_FAILOVER on a single server of each version the matrix runs: refused (exit 2, one line)
// before PostgreSQL 17; from 17 on, the flag is turned on for a slot that lacks it and a slot the
// relay creates carries it. The failover itself is test/failover's (a primary and a standby).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import { adminQuery, createTestDatabase } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';

after(assertNoProcessLeft);

async function slotFailover(db: TestDatabase): Promise<boolean | undefined> {
  const { rows } = await db.pool.query<{ failover: boolean | null }>(
    `select (to_jsonb(s) ->> 'failover')::boolean as failover from pg_replication_slots s where slot_name = $1`,
    [db.slot],
  );
  return rows[0]?.failover ?? undefined;
}

describe('OUTBOX_SLOT_FAILOVER', () => {
  let db: TestDatabase;
  let major: number;

  before(async () => {
    db = await createTestDatabase('slotfailover');
    const { rows } = await adminQuery<{ major: number }>(
      `select current_setting('server_version_num')::int / 10000 as major`,
    );
    major = rows[0]!.major;
  });
  after(() => db.drop());

  test('before PostgreSQL 17 the relay refuses it: exit 2, one line naming the setting; from 17 on it starts', async () => {
    const relay = startRelayProcess(relayEnv(db, { OUTBOX_SLOT_FAILOVER: 'true' }));
    if (major < 17) {
      assert.equal(await relay.exited, 2);
      const errors = relay.output.filter((line) => line.startsWith('outbox-relay:'));
      assert.deepEqual(errors, [
        `outbox-relay: configuration error: OUTBOX_SLOT_FAILOVER: true needs PostgreSQL 17 or later ` +
          `(failover slots), this server is ${major}: set it to false or upgrade`,
      ]);
      assert.equal(await slotFailover(db), undefined, 'no slot created');
      return;
    }
    // A single server has no standby: the relay says what synchronized_standby_slots is for.
    await relay.waitForLog(/^OUTBOX_SLOT_FAILOVER: synchronized_standby_slots is empty/);
    const created = await relay.waitForLog('slot created');
    assert.equal(created['failover'], true);
    await relay.waitForLog('streaming');
    assert.equal(await slotFailover(db), true);
    assert.equal(await relay.stop('SIGTERM'), 0);
  });

  test('from PostgreSQL 17 on, the flag follows the setting on an existing slot, both ways', async () => {
    if (major < 17) {
      // Nothing to follow: the server has no failover slots, and `false` is the only value it runs with.
      const relay = startRelayProcess(relayEnv(db, { OUTBOX_SLOT_FAILOVER: 'false' }));
      await relay.waitForLog('streaming');
      assert.equal(await slotFailover(db), undefined);
      assert.equal(await relay.stop('SIGTERM'), 0);
      return;
    }
    for (const wanted of [false, true]) {
      const relay = startRelayProcess(relayEnv(db, { OUTBOX_SLOT_FAILOVER: String(wanted) }));
      const changed = await relay.waitForLog('slot failover flag changed');
      assert.equal(changed['failover'], wanted);
      await relay.waitForLog('streaming');
      assert.equal(await slotFailover(db), wanted);
      assert.ok(!relay.output.some((line) => line.includes('replication slot missing')), 'the slot was kept');
      assert.equal(await relay.stop('SIGTERM'), 0);
    }
  });
});
