// Broker outage: RabbitMQ is stopped for more than 30 seconds while events keep being committed. The
// relay keeps running, reports not ready, reconnects, confirms nothing it could not deliver, holds no
// more than its in-flight window (the WAL stream waits instead), and delivers everything afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutboxLoad } from '../support/load.js';
import { probeUrl } from '../support/metrics.js';
import { confirmedLsn, outboxCount } from '../support/outbox.js';
import {
  deliveryContext,
  probesOf,
  waitForOutboxEmpty,
  waitForWindowClosed,
  watchOutage,
} from '../support/probes.js';
import { countQueue, rabbitRelayEnv } from '../support/rabbitmq.js';
import { startRelayProcess } from '../support/relay.js';
import { createTestDatabase, localService, uniqueName } from '../support/services.js';
import { waitFor } from '../support/wait.js';

const OUTAGE_MS = 32_000;
const MAX_IN_FLIGHT = 300;
// Generous: the relay idles near 100 MiB; an unbounded buffer of the outage's events would not fit.
const MAX_RSS_MIB = 300;

test('a RabbitMQ outage under load: not ready, retrying, bounded, nothing confirmed, then all delivered', async (t) => {
  const db = await createTestDatabase('rabbit_outage');
  const type = uniqueName('outage');
  // The reader's queue is durable and the relay's messages persistent: both outlive the broker's stop.
  const { counter, readerDuplicates } = await countQueue(type);
  const relay = startRelayProcess(rabbitRelayEnv(db, { OUTBOX_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT) }));
  let load: OutboxLoad | undefined;
  try {
    const probes = await probesOf(relay);
    await waitFor('ready', async () => (await probes.readyStatus()) === 200);
    load = await OutboxLoad.start(db.url, { aggregateType: type, eventsPerSecond: 800 });
    await waitFor('delivery under way', () => counter.delivered > 1_000);

    await localService('rabbitmq', 'stop');
    const outageStart = Date.now();
    try {
      const committedAtStop = load.committed;
      await waitFor('not ready', async () => (await probes.readyStatus()) === 503, { timeoutMs: 60_000 });
      const readyz = (await (await fetch(`${await probeUrl(relay)}/readyz`)).json()) as { reason?: string };
      assert.equal(readyz.reason, 'rabbitmq is not connected');
      await relay.waitForLog('rabbitmq: connection lost, reconnecting', 60_000);
      await waitForWindowClosed(probes, load, MAX_IN_FLIGHT);
      const errorsAtFull = (await probes.metric('outbox_relay_publish_errors_total')) ?? 0;
      const lagAtFull = (await probes.metric('outbox_relay_lag_seconds')) ?? 0;
      const lsnAtFull = await confirmedLsn(db.pool, db.slot);

      const { maxInFlight, maxRss } = await watchOutage(relay, probes, outageStart + OUTAGE_MS);
      const writtenDuringOutage = load.committed - committedAtStop;
      const pendingRows = await outboxCount(db.pool);
      const errors = (await probes.metric('outbox_relay_publish_errors_total')) ?? 0;
      const lag = (await probes.metric('outbox_relay_lag_seconds')) ?? 0;
      const lossLogs = relay.output.filter((line) => line.includes('rabbitmq: connection lost')).length;
      t.diagnostic(
        `outage of ${Math.round((Date.now() - outageStart) / 1000)} s: ${writtenDuringOutage} events committed, ` +
          `${pendingRows} rows pending, at most ${maxInFlight} in flight (window ${MAX_IN_FLIGHT}), ` +
          `RSS at most ${Math.round(maxRss)} MiB, ${errors} publish errors, lag ${Math.round(lag)} s, ` +
          `${lossLogs} 'connection lost' log line(s)`,
      );
      assert.ok(writtenDuringOutage > 10 * MAX_IN_FLIGHT, 'the outage saw far more events than the window');
      assert.ok(maxInFlight <= MAX_IN_FLIGHT, `${maxInFlight} in flight exceeds the window`);
      assert.ok(maxRss < MAX_RSS_MIB, `resident memory ${maxRss} MiB`);
      assert.ok(errors > errorsAtFull, 'still retrying after the window filled');
      assert.ok(lag > lagAtFull, 'the lag grows while nothing is delivered');
      assert.equal(lossLogs, 1, 'the outage is logged once, not per message or attempt');
      assert.ok(pendingRows >= writtenDuringOutage, 'no row of the outage was completed');
      assert.equal(await confirmedLsn(db.pool, db.slot), lsnAtFull, 'no LSN confirmed during the outage');
    } finally {
      await localService('rabbitmq', 'start');
    }

    await waitFor('ready again', async () => (await probes.readyStatus()) === 200, { timeoutMs: 120_000 });
    await load.stop();
    await counter.waitForAll(load, 180_000, () => deliveryContext(db, relay));
    await waitForOutboxEmpty(db, relay, 180_000);
    await waitFor(
      'no lag once caught up',
      async () => (await probes.metric('outbox_relay_lag_seconds')) === 0,
    );
    t.diagnostic(
      `${load.committed} events delivered, ${counter.duplicates - readerDuplicates()} duplicates ` +
        `(+${readerDuplicates()} redeliveries to the test's own consumer)`,
    );
    t.diagnostic(await counter.readerState());
    assert.deepEqual(counter.missing(load), []);
    assert.deepEqual(counter.orderViolations.slice(0, 10), []);
    assert.equal(relay.child.exitCode, null, 'the same relay process delivered everything');
    assert.equal(await relay.stop('SIGTERM'), 0);
  } finally {
    await load?.stop();
    await relay.stop('SIGKILL');
    await counter.stop();
    await db.drop();
  }
});
