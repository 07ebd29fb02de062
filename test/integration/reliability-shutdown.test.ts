// Graceful shutdown: on SIGTERM or SIGINT the relay stops reading, finishes what is in flight (up to
// OUTBOX_SHUTDOWN_TIMEOUT_MS), completes and confirms what was delivered and exits 0; a second
// signal exits at once. With the broker down, the timeout ends the wait and nothing undelivered is
// confirmed, so the next start delivers it.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type pg from 'pg';
import { createTopics } from '../support/kafka.js';
import { EventCounter, OutboxLoad } from '../support/load.js';
import { commitEvents, confirmedLsn, outboxCount } from '../support/outbox.js';
import { deliveryContext, waitForOutboxEmpty } from '../support/probes.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, currentWalLsn, localService, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';
import { parseLsn } from '../../src/wal/lsn.js';

after(assertNoProcessLeft);

const MAX_BATCH = 200;

async function startStreaming(env: Record<string, string>): Promise<RelayProcess> {
  const relay = startRelayProcess(env);
  await relay.waitForLog('streaming');
  return relay;
}

/** Delivered events whose rows are still in the outbox (completion must follow every delivery). */
async function deliveredButPending(pool: pg.Pool, counter: EventCounter): Promise<number> {
  const { rows } = await pool.query<{ count: string }>(
    'select count(*)::text as count from outbox where id = any($1::uuid[])',
    [counter.deliveredIds()],
  );
  return Number(rows[0]!.count);
}

describe('graceful shutdown', () => {
  test('SIGTERM and SIGINT under load: exit 0, delivered rows completed and confirmed, nothing lost', async (t) => {
    const db = await createTestDatabase('shutdown');
    const type = uniqueName('shutdown');
    const topic = `outbox.${type}`;
    await createTopics([topic]);
    const counter = await EventCounter.start(topic);
    const env = relayEnv(db);
    // Started before the load: the slot exists before the first event (see docs/operations.md on
    // the creation sweep's order).
    let relay: RelayProcess | undefined = await startStreaming(env);
    const load = await OutboxLoad.start(db.url, {
      aggregateType: type,
      eventsPerSecond: 1_000,
      maxBatch: MAX_BATCH,
    });
    try {
      const signals = ['SIGTERM', 'SIGINT'] as const;
      for (const [index, signal] of signals.entries()) {
        if (index > 0) relay = await startStreaming(env);
        const delivered = counter.delivered;
        await waitFor('delivery under way', () => counter.delivered > delivered + 1_000, {
          timeoutMs: 60_000,
        });
        assert.equal(await relay.stop(signal), 0, `exit status after ${signal}`);
        assert.ok(relay.output.some((line) => line.includes('"msg":"stopped"')));
        assert.equal(await deliveredButPending(db.pool, counter), 0, `after ${signal}`);
        t.diagnostic(`${signal}: ${counter.delivered} delivered of ${load.committed} committed`);
      }
      await load.stop();
      relay = await startStreaming(env);
      await counter.waitForAll(load, undefined, () => deliveryContext(db));
      await waitForOutboxEmpty(db, undefined, 30_000);
      t.diagnostic(
        `${load.committed} events, ${counter.duplicates} duplicates after ${signals.length} stops`,
      );
      assert.deepEqual(counter.missing(load), []);
      assert.deepEqual(counter.orderViolations.slice(0, 10), []);
      // What a graceful stop confirmed is never sent again; only the one transaction that was partly
      // read when reading stopped is (its completed events cannot be confirmed without its commit).
      assert.ok(counter.duplicates < signals.length * MAX_BATCH, `${counter.duplicates} duplicates`);
      assert.equal(await relay.stop('SIGTERM'), 0);
    } finally {
      await load.stop();
      await relay?.stop('SIGKILL');
      await counter.stop();
      await db.drop();
    }
  });

  test('with Kafka down: the timeout ends the wait (exit 0, nothing confirmed), a second signal exits at once', async (t) => {
    const dbs: TestDatabase[] = [
      await createTestDatabase('sd_timeout'),
      await createTestDatabase('sd_force'),
    ];
    const type = uniqueName('sd');
    const topic = `outbox.${type}`;
    await createTopics([topic]);
    const [timeoutDb, forceDb] = dbs as [TestDatabase, TestDatabase];
    const relays: RelayProcess[] = [];
    const ids: string[] = [];
    const commit = async (db: TestDatabase, count: number): Promise<void> => {
      const events = Array.from({ length: count }, (_, i) => ({
        aggregateType: type,
        aggregateId: `${db.name}-${i % 7}`,
        eventType: 'E',
        payload: { i },
      }));
      ids.push(...(await commitEvents(db.pool, events)));
    };
    try {
      const timeoutEnv = relayEnv(timeoutDb, { OUTBOX_SHUTDOWN_TIMEOUT_MS: '3000' });
      const forceEnv = relayEnv(forceDb, { OUTBOX_SHUTDOWN_TIMEOUT_MS: '600000' });
      const timeoutRelay = await startStreaming(timeoutEnv);
      const forceRelay = await startStreaming(forceEnv);
      relays.push(timeoutRelay, forceRelay);
      await localService('kafka', 'stop');
      try {
        await commit(timeoutDb, 300);
        await commit(forceDb, 300);
        await timeoutRelay.waitForLog('kafka: publish failed, retrying', 90_000);
        await forceRelay.waitForLog('kafka: publish failed, retrying', 90_000);
        const timeoutLsn = await confirmedLsn(timeoutDb.pool, timeoutDb.slot);
        const forceLsn = await confirmedLsn(forceDb.pool, forceDb.slot);

        // The shutdown timeout expires: exit 0, the undelivered events stay unconfirmed.
        assert.equal(await timeoutRelay.stop('SIGTERM'), 0);
        assert.equal(await confirmedLsn(timeoutDb.pool, timeoutDb.slot), timeoutLsn);
        assert.equal(await outboxCount(timeoutDb.pool), 300);

        // A second signal does not wait for the (ten-minute) timeout.
        forceRelay.child.kill('SIGTERM');
        await forceRelay.waitForLog('shutting down');
        forceRelay.child.kill('SIGTERM');
        const forced = await Promise.race([
          forceRelay.exited,
          new Promise((resolve) => setTimeout(() => resolve('still running'), 30_000)),
        ]);
        t.diagnostic(`second signal: exit status ${String(forced)}`);
        assert.notEqual(forced, 'still running');
        assert.notEqual(forced, 0, 'a forced exit is not a clean one');
        assert.equal(await confirmedLsn(forceDb.pool, forceDb.slot), forceLsn);
        assert.equal(await outboxCount(forceDb.pool), 300);

        // Started while the broker is down, it still stops at once on SIGTERM.
        const waiting = startRelayProcess(timeoutEnv);
        relays.push(waiting);
        await waiting.waitForLog('kafka: connect failed, retrying', 90_000);
        assert.equal(await waiting.stop('SIGTERM'), 0);
      } finally {
        await localService('kafka', 'start');
      }

      const reader = await EventCounter.start(topic);
      try {
        relays.push(await startStreaming(timeoutEnv), await startStreaming(forceEnv));
        await waitFor(`all ${ids.length} events delivered`, () => reader.delivered >= ids.length, {
          timeoutMs: 120_000,
        });
        await waitFor(
          'rows completed',
          async () => (await outboxCount(timeoutDb.pool)) + (await outboxCount(forceDb.pool)) === 0,
        );
        assert.deepEqual(reader.deliveredIds().sort(), [...ids].sort());
        for (const relay of relays.slice(-2)) assert.equal(await relay.stop('SIGTERM'), 0);
      } finally {
        await reader.stop();
      }
    } finally {
      for (const relay of relays) await relay.stop('SIGKILL');
      for (const db of dbs) await db.drop();
    }
  });

  test('with a completion that cannot finish (its delete waits on a lock): the stop still ends (exit 1 at the timeout + 10 s), nothing of it confirmed', async (t) => {
    const db = await createTestDatabase('sd_locked');
    const type = uniqueName('sd_locked');
    const topic = `outbox.${type}`;
    await createTopics([topic]);
    const reader = await EventCounter.start(topic);
    const lock = await db.pool.connect();
    let relay: RelayProcess | undefined;
    try {
      const env = relayEnv(db, { OUTBOX_SHUTDOWN_TIMEOUT_MS: '3000' });
      relay = await startStreaming(env);
      // The relay publishes, but its deletes wait for an advisory lock this test holds (a trigger).
      await db.pool.query(`
        create function wait_for_the_test() returns trigger language plpgsql as $$
          begin perform pg_advisory_lock_shared(4242); perform pg_advisory_unlock_shared(4242); return null; end $$;
        create trigger wait_for_the_test before delete on outbox
          for each statement execute function wait_for_the_test()`);
      await lock.query('select pg_advisory_lock(4242)');
      // The relay may still confirm what came before the events (the trigger's DDL), never them.
      const beforeEvents = await currentWalLsn(db.pool);
      const ids = await commitEvents(
        db.pool,
        Array.from({ length: 50 }, (_, i) => ({
          aggregateType: type,
          aggregateId: `a${i % 5}`,
          eventType: 'E',
          payload: { i },
        })),
      );
      await waitFor('the events delivered', () => reader.delivered >= ids.length, { timeoutMs: 60_000 });

      const stopping = Date.now();
      const code = await relay.stop('SIGTERM');
      const seconds = (Date.now() - stopping) / 1000;
      t.diagnostic(`stopped in ${seconds.toFixed(1)} s with exit status ${code}`);
      // The relay stops waiting at the timeout (3 s); its database pool cannot close while the delete
      // waits, so the process ends at the hard bound (10 s later) with exit 1 and says why.
      assert.ok(seconds < 13 + 5, `the stop took ${seconds} s`);
      assert.equal(code, 1, 'a stop that could not release the database is not a clean one');
      assert.ok(
        relay.output.some((line) =>
          line.includes('shutdown did not finish after OUTBOX_SHUTDOWN_TIMEOUT_MS'),
        ),
      );
      const confirmed = await confirmedLsn(db.pool, db.slot);
      assert.ok(
        confirmed !== undefined && parseLsn(confirmed) <= parseLsn(beforeEvents),
        `nothing uncompleted was confirmed: the slot at ${confirmed}, the events after ${beforeEvents}`,
      );
      assert.equal(await outboxCount(db.pool), ids.length, 'the rows are still there for the next start');
      await lock.query('select pg_advisory_unlock(4242)');

      relay = await startStreaming(env);
      await waitForOutboxEmpty(db, relay, 60_000);
      assert.deepEqual([...new Set(reader.deliveredIds())].sort(), [...ids].sort());
      assert.equal(await relay.stop('SIGTERM'), 0);
    } finally {
      await lock.query('select pg_advisory_unlock_all()').catch(() => undefined);
      lock.release();
      await relay?.stop('SIGKILL');
      await reader.stop();
      await db.drop();
    }
  });
});
