// PostgreSQL restarts under load, once cleanly (fast stop) and once as a crash (immediate stop):
// the relay reconnects, resumes from the slot, and nothing committed is lost.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { stopAndCrashPostgres } from '../support/postgres-outage.js';
import { createTopics } from '../support/kafka.js';
import { EventCounter, OutboxLoad } from '../support/load.js';
import { deliveryContext, waitForOutboxEmpty } from '../support/probes.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import { createTestDatabase, uniqueName } from '../kit/services.js';

after(assertNoProcessLeft);

test('PostgreSQL stop and crash under load: the relay reconnects and loses nothing', async (t) => {
  const db = await createTestDatabase('pgrestart');
  const type = uniqueName('pgrestart');
  const topic = `outbox.${type}`;
  await createTopics([topic]);
  const counter = await EventCounter.start(topic);
  const relay = startRelayProcess(relayEnv(db));
  let load: OutboxLoad | undefined;
  try {
    await relay.waitForLog('streaming');
    load = await OutboxLoad.start(db.url, { aggregateType: type, eventsPerSecond: 1_000 });
    await stopAndCrashPostgres(t, relay, counter, load, () => deliveryContext(db, relay));
    await load.stop();
    await counter.waitForAll(load, undefined, () => deliveryContext(db, relay));
    await waitForOutboxEmpty(db, relay);
    t.diagnostic(`${load.committed} events delivered, ${counter.duplicates} duplicates`);
    t.diagnostic(await counter.readerState());
    const messages = relay.output.filter((line) => /"level":(40|50|60)/.test(line));
    t.diagnostic(
      messages.length === 0
        ? 'relay warnings: none'
        : `relay warnings: ${messages.length}; first: ${messages.slice(0, 3).join(' | ')}`,
    );
    assert.deepEqual(counter.missing(load), []);
    assert.deepEqual(counter.orderViolations.slice(0, 10), []);
    assert.equal(await relay.stop('SIGTERM'), 0);
  } finally {
    await load?.stop();
    await relay.stop('SIGKILL');
    await counter.stop();
    await db.drop();
  }
});
