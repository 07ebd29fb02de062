// High availability: two relays on one slot. One streams, the other waits quietly; the leader gauge
// says which. When the leader dies the standby takes over, retrying quietly while the dead leader's
// walsender still holds the slot, and nothing is lost.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createTopics } from '../support/kafka.js';
import { EventCounter, OutboxLoad } from '../support/load.js';
import { deliveryContext, probesOf, waitForOutboxEmpty } from '../support/probes.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, uniqueName } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const loud = (relay: RelayProcess): string[] =>
  relay.output.filter((line) => /"level":(40|50|60)/.test(line));

test('two relays on one slot: one leads, the standby takes over from a killed leader, nothing lost', async (t) => {
  const db = await createTestDatabase('ha');
  const type = uniqueName('ha');
  const topic = `outbox.${type}`;
  await createTopics([topic]);
  const counter = await EventCounter.start(topic);
  const env = relayEnv(db);
  const leader = startRelayProcess(env);
  let standby: RelayProcess | undefined;
  let load: OutboxLoad | undefined;
  try {
    await leader.waitForLog('streaming');
    standby = startRelayProcess(env);
    await standby.waitForLog('standby: another instance holds the slot, waiting');
    const [leaderProbes, standbyProbes] = [await probesOf(leader), await probesOf(standby)];
    assert.equal(await leaderProbes.metric('outbox_relay_leader'), 1);
    assert.equal(await standbyProbes.metric('outbox_relay_leader'), 0);
    assert.equal(await leaderProbes.readyStatus(), 200);
    assert.equal(await standbyProbes.readyStatus(), 503);
    // What a Kubernetes readiness probe asks: a waiting standby counts as available.
    assert.equal(await standbyProbes.readyStatus('?standby=ready'), 200);
    assert.equal(await leaderProbes.readyStatus('?standby=ready'), 200);
    // The standby's replication connection opened ahead at start (db/opened-ahead.ts) is closed
    // unused: the only walsender left is the leader's.
    await waitFor('one walsender, the leader’s', async () => {
      const { rows } = await db.pool.query<{ walsenders: number }>(
        `select count(*)::int as walsenders from pg_stat_activity
          where backend_type = 'walsender' and datname = current_database()`,
      );
      return rows[0]!.walsenders === 1;
    });

    load = await OutboxLoad.start(db.url, { aggregateType: type, eventsPerSecond: 1_000 });
    await waitFor('delivery under way', () => counter.delivered > 1_000, { timeoutMs: 60_000 });
    assert.equal(loud(standby).length, 0, 'the standby waits without warnings');
    assert.ok(!standby.output.some((line) => line.includes('"msg":"streaming"')), 'only the leader streams');

    // The leader freezes and its lock session ends: the standby gets the lock while the old
    // walsender still holds the slot (as for a moment after a crash), then the leader dies.
    leader.child.kill('SIGSTOP');
    const { rows } = await db.pool.query<{ pid: number }>(
      `select pid from pg_locks where locktype = 'advisory' and granted and database =
         (select oid from pg_database where datname = current_database())`,
    );
    assert.equal(rows.length, 1);
    await db.pool.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
    await standby.waitForLog('slot acquired: this instance is the leader');
    await standby.waitForLog('the previous walsender still holds the slot, retrying', 30_000);
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await leader.exited;
    await standby.waitForLog('streaming', 30_000);
    t.diagnostic(`standby streaming ${Date.now() - killedAt} ms after the leader was killed`);
    assert.equal(await standbyProbes.metric('outbox_relay_leader'), 1);
    await waitFor('the new leader ready', async () => (await standbyProbes.readyStatus()) === 200);

    await load.stop();
    await counter.waitForAll(load, undefined, () => deliveryContext(db));
    await waitForOutboxEmpty(db);
    t.diagnostic(`${load.committed} events delivered, ${counter.duplicates} duplicates`);
    t.diagnostic(await counter.readerState());
    assert.deepEqual(counter.missing(load), []);
    assert.deepEqual(counter.orderViolations.slice(0, 10), []);
    assert.equal(standby.child.exitCode, null, 'the standby did not crash');
    assert.deepEqual(loud(standby), [], 'the takeover logged no warnings or errors');
    assert.equal(await standby.stop('SIGTERM'), 0);
  } finally {
    await load?.stop();
    leader.child.kill('SIGKILL');
    await leader.stop('SIGKILL');
    await standby?.stop('SIGKILL');
    await counter.stop();
    await db.drop();
  }
});
