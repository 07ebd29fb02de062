// Broker outage, once per broker: the broker is stopped for more than 30 seconds while events keep
// being committed. The relay keeps running, reports not ready, retries (Kafka) or reconnects
// (RabbitMQ), confirms nothing it could not deliver, holds no more than its in-flight window (the WAL
// stream waits instead), and delivers everything afterwards.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { TestContext } from 'node:test';
import { kafka, rabbitmq } from '../support/brokers.js';
import type { BrokerFixture } from '../support/brokers.js';
import { OutboxLoad } from '../support/load.js';
import { probeUrl } from '../kit/metrics.js';
import { confirmedLsn, outboxCount } from '../support/outbox.js';
import {
  deliveryContext,
  probesOf,
  waitForOutboxEmpty,
  waitForWindowClosed,
  watchOutage,
} from '../support/probes.js';
import { assertNoProcessLeft, startRelayProcess } from '../kit/relay.js';
import { createTestDatabase, uniqueName } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

const OUTAGE_MS = 32_000;
const MAX_IN_FLIGHT = 300;
// Generous: the relay idles near 100 MiB; an unbounded buffer of the outage's events would not fit.
const MAX_RSS_MIB = 300;

after(assertNoProcessLeft);

test('a Kafka outage under load: not ready, retrying, bounded, nothing confirmed, then all delivered', (t) =>
  outageUnderLoad(kafka, t));

test('a RabbitMQ outage under load: not ready, retrying, bounded, nothing confirmed, then all delivered', (t) =>
  outageUnderLoad(rabbitmq, t));

async function outageUnderLoad<M>(broker: BrokerFixture<M>, t: TestContext): Promise<void> {
  const { outage } = broker;
  const db = await createTestDatabase(`${broker.name}_outage`);
  const type = uniqueName('outage');
  const { counter, readerDuplicates } = await broker.count(type);
  const relay = startRelayProcess(broker.relayEnv(db, { OUTBOX_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT) }));
  let load: OutboxLoad | undefined;
  try {
    const probes = await probesOf(relay);
    await waitFor('ready', async () => (await probes.readyStatus()) === 200);
    load = await OutboxLoad.start(db.url, { aggregateType: type, eventsPerSecond: 800 });
    await waitFor('delivery under way', () => counter.delivered > 1_000);

    await broker.stop();
    const outageStart = Date.now();
    try {
      const committedAtStop = load.committed;
      await waitFor('not ready', async () => (await probes.readyStatus()) === 503, { timeoutMs: 60_000 });
      if (outage.notReadyReason !== undefined) {
        const readyz = (await (await fetch(`${await probeUrl(relay)}/readyz`)).json()) as { reason?: string };
        assert.equal(readyz.reason, outage.notReadyReason);
      }
      await relay.waitForLog(outage.retryingLog, 60_000);
      await waitForWindowClosed(probes, load, MAX_IN_FLIGHT);
      const errorsAtFull = (await probes.metric('outbox_relay_publish_errors_total')) ?? 0;
      const lagAtFull = (await probes.metric('outbox_relay_lag_seconds')) ?? 0;
      const lsnAtFull = await confirmedLsn(db.pool, db.slot);

      const { maxInFlight, maxRss } = await watchOutage(relay, probes, outageStart + OUTAGE_MS);
      const writtenDuringOutage = load.committed - committedAtStop;
      const pendingRows = await outboxCount(db.pool);
      const errors = (await probes.metric('outbox_relay_publish_errors_total')) ?? 0;
      const lag = (await probes.metric('outbox_relay_lag_seconds')) ?? 0;
      const { loggedOnce } = outage;
      const onceLogs =
        loggedOnce === undefined
          ? undefined
          : relay.output.filter((line) => line.includes(loggedOnce)).length;
      t.diagnostic(
        `outage of ${Math.round((Date.now() - outageStart) / 1000)} s: ${writtenDuringOutage} events committed, ` +
          `${pendingRows} rows pending, at most ${maxInFlight} in flight (window ${MAX_IN_FLIGHT}), ` +
          `RSS at most ${Math.round(maxRss)} MiB, ${errors} publish errors, lag ${Math.round(lag)} s` +
          (onceLogs === undefined ? '' : `, ${onceLogs} '${loggedOnce}' log line(s)`),
      );
      assert.ok(writtenDuringOutage > 10 * MAX_IN_FLIGHT, 'the outage saw far more events than the window');
      assert.ok(maxInFlight <= MAX_IN_FLIGHT, `${maxInFlight} in flight exceeds the window`);
      assert.ok(maxRss < MAX_RSS_MIB, `resident memory ${maxRss} MiB`);
      assert.ok(errors > errorsAtFull, 'still retrying after the window filled');
      if (outage.lagGrows) assert.ok(lag > lagAtFull, 'the lag grows while nothing is delivered');
      if (onceLogs !== undefined)
        assert.equal(onceLogs, 1, 'the outage is logged once, not per message or attempt');
      assert.ok(pendingRows >= writtenDuringOutage, 'no row of the outage was completed');
      assert.equal(await confirmedLsn(db.pool, db.slot), lsnAtFull, 'no LSN confirmed during the outage');
    } finally {
      await broker.start();
    }

    await waitFor('ready again', async () => (await probes.readyStatus()) === 200, { timeoutMs: 120_000 });
    await load.stop();
    await counter.waitForAll(load, 180_000, () => deliveryContext(db, relay));
    await waitForOutboxEmpty(db, relay, 180_000);
    if (outage.lagGrows) {
      await waitFor(
        'no lag once caught up',
        async () => (await probes.metric('outbox_relay_lag_seconds')) === 0,
      );
    }
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
}
