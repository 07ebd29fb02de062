// Crash safety: the relay is SIGKILLed at random moments while events flow, and restarted each time.
// Every committed event must reach Kafka at least once, in commit order per aggregate once
// duplicates are removed, and duplicates may only come from what was unconfirmed at each kill.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createTopics } from '../support/kafka.js';
import { EventCounter, OutboxLoad } from '../support/load.js';
import { deliveryContext, waitForOutboxEmpty } from '../support/probes.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, uniqueName } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const KILLS = 5;
const MIN_EVENTS = 50_000;
const MAX_IN_FLIGHT = 1_000;
const MAX_BATCH = 200;

test('SIGKILL at random moments under load loses nothing and keeps per-aggregate order', async (t) => {
  const db = await createTestDatabase('crash');
  const type = uniqueName('crash');
  const topic = `outbox.${type}`;
  await createTopics([topic]);
  const counter = await EventCounter.start(topic);
  const env = relayEnv(db, { OUTBOX_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT) });
  let relay: RelayProcess = startRelayProcess(env);
  let load: OutboxLoad | undefined;
  try {
    await relay.waitForLog('streaming');
    // Paced so that events are still flowing through every kill; it runs until the kills are done.
    load = await OutboxLoad.start(db.url, {
      aggregateType: type,
      eventsPerSecond: 4_000,
      minBatch: 50,
      maxBatch: MAX_BATCH,
    });
    for (let kill = 1; kill <= KILLS; kill++) {
      // Kill only while this incarnation is delivering, at a random moment of that.
      const received = counter.received;
      await waitFor('the relay to deliver', () => counter.received > received + 500, { timeoutMs: 60_000 });
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 1_300));
      relay.child.kill('SIGKILL');
      assert.equal(await relay.exited, 'SIGKILL');
      t.diagnostic(`kill ${kill}: ${load.committed} committed, ${counter.delivered} delivered so far`);
      relay = startRelayProcess(env);
      await relay.waitForLog('streaming');
    }
    await load.waitForCommitted(MIN_EVENTS);
    await load.stop();
    await counter.waitForAll(load, undefined, () => deliveryContext(db, relay));
    await waitForOutboxEmpty(db, relay);

    t.diagnostic(
      `${load.committed} events in ${load.committedByAggregate.size} aggregates, ${KILLS} kills: ` +
        `${counter.duplicates} duplicates (bound ${KILLS * (MAX_IN_FLIGHT + MAX_BATCH)})`,
    );
    t.diagnostic(await counter.readerState());
    assert.ok(load.committed >= MIN_EVENTS);
    assert.deepEqual(counter.missing(load), [], 'every committed event delivered');
    assert.equal(counter.delivered, load.committed);
    assert.deepEqual(counter.orderViolations.slice(0, 10), [], 'per-aggregate commit order');
    // A kill can only resend what was unconfirmed: the events in flight (at most the window) plus
    // the already-completed head of the one transaction the watermark was waiting for.
    assert.ok(
      counter.duplicates <= KILLS * (MAX_IN_FLIGHT + MAX_BATCH),
      `${counter.duplicates} duplicates exceed ${KILLS} kills x (window ${MAX_IN_FLIGHT} + transaction ${MAX_BATCH})`,
    );
    assert.equal(await relay.stop('SIGTERM'), 0);
  } finally {
    await load?.stop();
    await relay.stop('SIGKILL');
    await counter.stop();
    await db.drop();
  }
});
