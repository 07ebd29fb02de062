// PostgreSQL 18's idle_replication_slot_timeout invalidates a slot no walsender uses (reason
// idle_timeout, at a checkpoint). `status` names the reason; the relay drops the slot, recreates it,
// sweeps the table (nothing lost) and counts it in outbox_relay_slot_invalidations_total{reason}.
// Before 18 the server has no such setting, which the test checks instead. wal_removed is covered on
// every version by reliability-slot-loss.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTopics, TopicReader } from '../support/kafka.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { probeUrl, sampleValue, scrape } from '../kit/metrics.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import { adminQuery, createTestDatabase, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

function events(type: string, count: number): TestEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    aggregateType: type,
    aggregateId: `a${i % 3}`,
    eventType: 'E',
    payload: { i },
  }));
}

describe('slot invalidation by idle_replication_slot_timeout', () => {
  let db: TestDatabase;
  let major: number;
  let reader: TopicReader | undefined;

  before(async () => {
    db = await createTestDatabase('slotidle');
    const { rows } = await adminQuery<{ major: number }>(
      `select current_setting('server_version_num')::int / 10000 as major`,
    );
    major = rows[0]!.major;
  });
  after(async () => {
    await reader?.stop();
    await db.drop();
  });

  test('18+: an idle slot invalidated (idle_timeout) is named by status, recreated and swept; before 18 the setting does not exist', async () => {
    if (major < 18) {
      const { rows } = await adminQuery<{ value: string | null }>(
        `select current_setting('idle_replication_slot_timeout', true) as value`,
      );
      assert.equal(rows[0]!.value, null);
      return;
    }
    const type = uniqueName('idle');
    await createTopics([`outbox.${type}`], 1);
    reader = await TopicReader.start([`outbox.${type}`]);
    let relay = startRelayProcess(relayEnv(db, { OUTBOX_HEARTBEAT_INTERVAL_MS: '0' }));
    await relay.waitForLog('streaming');
    const delivered = await commitEvents(db.pool, events(type, 5));
    await waitFor('first events completed', async () => (await outboxCount(db.pool)) === 0);
    assert.equal(await relay.stop('SIGTERM'), 0);

    const pending = await commitEvents(db.pool, events(type, 10));
    // Our own cluster only, for a moment: slots idle for a second are invalidated at a checkpoint.
    await adminQuery(`alter system set idle_replication_slot_timeout = '1s'`);
    await adminQuery('select pg_reload_conf()');
    try {
      await waitFor(
        'the idle slot to be invalidated',
        async () => {
          await adminQuery('checkpoint');
          const { rows } = await db.pool.query<{ reason: string | null }>(
            `select invalidation_reason as reason from pg_replication_slots where slot_name = $1`,
            [db.slot],
          );
          return rows[0]?.reason === 'idle_timeout';
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
    } finally {
      await adminQuery('alter system reset idle_replication_slot_timeout');
      await adminQuery('select pg_reload_conf()');
    }

    const status = startRelayProcess(relayEnv(db), ['status', '--json']);
    assert.equal(await status.exited, 1);
    const report = JSON.parse(status.output.find((line) => line.startsWith('{'))!) as Record<string, unknown>;
    assert.equal(report['invalidationReason'], 'idle_timeout');
    assert.match(String(report['problem']), /was invalidated \(idle_timeout\)/);

    relay = startRelayProcess(relayEnv(db, { OUTBOX_HEARTBEAT_INTERVAL_MS: '0' }));
    const invalidated = await relay.waitForLog('replication slot invalidated: dropping and recreating it');
    assert.equal(invalidated['reason'], 'idle_timeout');
    const created = await relay.waitForLog('slot created');
    assert.equal(created['events'], pending.length, 'the pending rows were swept');
    const { samples } = await scrape(await probeUrl(relay));
    assert.equal(
      sampleValue(samples, 'outbox_relay_slot_invalidations_total', { reason: 'idle_timeout' }),
      1,
    );
    await waitFor('every event on the topic', () =>
      [...delivered, ...pending].every((id) => reader!.ids().includes(id)),
    );
    await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0);
    assert.equal(await relay.stop('SIGTERM'), 0);
  });
});
