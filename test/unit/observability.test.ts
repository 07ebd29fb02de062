// Pure parts of observability: metrics registry, catch-up tracking, loop health, log problems, status.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { register } from 'prom-client';
import { BACKLOG_THRESHOLD_MS, CatchUpTracker } from '../../src/observability/catch-up.js';
import { loopHealthVerdict } from '../../src/observability/event-loop.js';
import { createLogger, describeProblem, lastProblem, redactUrl } from '../../src/observability/logger.js';
import { createMetrics, END_TO_END_BUCKETS } from '../../src/observability/metrics.js';
import { assessSlot, formatStatus, LAGGING_BYTES, relayApplicationNames } from '../../src/status.js';
import type { RelayStatus } from '../../src/status.js';

describe('observability/metrics createMetrics', () => {
  test('registers every contract metric on its own registry, not the global one', async () => {
    const metrics = createMetrics({ lagSeconds: () => 0, inFlightEvents: () => 0, sinks: ['kafka'] });
    const text = await metrics.registry.metrics();
    for (const [name, type] of [
      ['outbox_relay_events_published_total', 'counter'],
      ['outbox_relay_events_published_by_format_total', 'counter'],
      ['outbox_relay_events_dead_lettered_total', 'counter'],
      ['outbox_relay_publish_errors_total', 'counter'],
      ['outbox_relay_lag_seconds', 'gauge'],
      ['outbox_relay_replication_lag_bytes', 'gauge'],
      ['outbox_relay_end_to_end_seconds', 'histogram'],
      ['outbox_relay_leader', 'gauge'],
      ['process_resident_memory_bytes', 'gauge'],
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'));
    }
    assert.equal(register.getSingleMetric('outbox_relay_lag_seconds'), undefined);
  });

  test('counts with bounded labels, starts error counters at 0 and reads the lag at scrape time', async () => {
    let lag = 0;
    const metrics = createMetrics({ lagSeconds: () => lag, inFlightEvents: () => 0, sinks: ['kafka'] });
    metrics.published('kafka', 'outbox.order', 'native');
    metrics.published('kafka', 'outbox.order', 'cloudevents');
    metrics.deadLettered('too_large');
    metrics.setLeader(true);
    lag = 12.5;
    const text = await metrics.registry.metrics();
    assert.match(text, /^outbox_relay_events_published_total\{sink="kafka",destination="outbox.order"\} 2$/m);
    assert.match(text, /^outbox_relay_events_published_by_format_total\{format="native"\} 1$/m);
    assert.match(text, /^outbox_relay_events_published_by_format_total\{format="cloudevents"\} 1$/m);
    assert.match(text, /^outbox_relay_events_dead_lettered_total\{reason="too_large"\} 1$/m);
    assert.match(text, /^outbox_relay_publish_errors_total\{sink="kafka"\} 0$/m);
    assert.match(text, /^outbox_relay_lag_seconds 12.5$/m);
    // Counted apart and added at each scrape: a second scrape adds only what came since.
    metrics.published('kafka', 'outbox.order', 'native');
    metrics.published('kafka', 'outbox.payment', 'native');
    const again = await metrics.registry.metrics();
    assert.match(
      again,
      /^outbox_relay_events_published_total\{sink="kafka",destination="outbox.order"\} 3$/m,
    );
    assert.match(
      again,
      /^outbox_relay_events_published_total\{sink="kafka",destination="outbox.payment"\} 1$/m,
    );
    assert.match(again, /^outbox_relay_events_published_by_format_total\{format="native"\} 3$/m);
    assert.match(again, /^outbox_relay_events_published_by_format_total\{format="cloudevents"\} 1$/m);
    assert.match(text, /^outbox_relay_leader 1$/m);
  });

  test('end-to-end buckets run from 1 ms to 60 s', async () => {
    assert.equal(END_TO_END_BUCKETS[0], 0.001);
    assert.equal(END_TO_END_BUCKETS.at(-1), 60);
    const metrics = createMetrics({ lagSeconds: () => 0, inFlightEvents: () => 0, sinks: [] });
    metrics.endToEnd(0.02);
    const text = await metrics.registry.metrics();
    assert.match(text, /^outbox_relay_end_to_end_seconds_bucket\{le="0.025"\} 1$/m);
    assert.match(text, /^outbox_relay_end_to_end_seconds_bucket\{le="0.01"\} 0$/m);
    assert.match(text, /^outbox_relay_end_to_end_seconds_count 1$/m);
  });
});

describe('observability/catch-up CatchUpTracker', () => {
  test('reports catching up once after a start, with the events since', () => {
    const tracker = new CatchUpTracker();
    tracker.completed(5);
    tracker.completed(7);
    assert.deepEqual(tracker.reachedServer(), { events: 2, maxLagMs: 7 });
    assert.equal(tracker.reachedServer(), undefined);
  });

  test('stays quiet while events flow promptly, reports again after a late one', () => {
    const tracker = new CatchUpTracker();
    tracker.reachedServer();
    tracker.completed(BACKLOG_THRESHOLD_MS / 2);
    assert.equal(tracker.reachedServer(), undefined);
    tracker.completed(BACKLOG_THRESHOLD_MS * 30);
    tracker.completed(3);
    assert.deepEqual(tracker.reachedServer(), { events: 2, maxLagMs: BACKLOG_THRESHOLD_MS * 30 });
  });

  test('a new session is a new backlog', () => {
    const tracker = new CatchUpTracker();
    tracker.reachedServer();
    tracker.restart();
    assert.deepEqual(tracker.reachedServer(), { events: 0, maxLagMs: 0 });
  });
});

describe('observability/event-loop loopHealthVerdict', () => {
  test('healthy up to the threshold, a reason above it', () => {
    assert.equal(loopHealthVerdict(4_999, 5_000), undefined);
    assert.equal(loopHealthVerdict(5_000, 5_000), undefined);
    assert.match(loopHealthVerdict(7_200, 5_000) ?? '', /event loop delayed 7200 ms \(limit 5000 ms\)/);
  });
});

describe('observability/logger', () => {
  test('describeProblem joins the message and the error, without passwords', () => {
    assert.equal(describeProblem(['plain']), 'plain');
    assert.equal(
      describeProblem([{ err: new Error('connect to postgres://relay:s3cret@db/app failed') }, 'lost']),
      'lost: connect to postgres://relay:***@db/app failed',
    );
  });

  test('redactUrl hides every password in a text', () => {
    assert.equal(
      redactUrl('amqp://u:p@h1 and postgres://v:q@h2/db'),
      'amqp://u:***@h1 and postgres://v:***@h2/db',
    );
  });

  test('lastProblem remembers the latest warning, also from child loggers', () => {
    // The expected warning goes to a stream of the test's own, not into the test output.
    const lines: string[] = [];
    const logger = createLogger('warn', { write: (line: string) => void lines.push(line) });
    assert.equal(lastProblem(logger), undefined);
    logger.info('not a problem');
    assert.equal(lastProblem(logger), undefined);
    logger
      .child({ sink: 'kafka' })
      .warn({ err: new Error('broker down') }, 'kafka: publish failed, retrying');
    assert.equal(lastProblem(logger)?.message, 'kafka: publish failed, retrying: broker down');
    assert.ok(lastProblem(logger)!.at instanceof Date);
    assert.equal(lines.length, 1);
  });
});

describe('status assessSlot / relayApplicationNames / formatStatus', () => {
  const healthy = { slot: 's', exists: true, walStatus: 'reserved', lagBytes: 100 };

  test('healthy slot', () => assert.equal(assessSlot(healthy), undefined));
  test('missing slot', () => assert.match(assessSlot({ ...healthy, exists: false }) ?? '', /does not exist/));
  test('lost WAL', () => assert.match(assessSlot({ ...healthy, walStatus: 'lost' }) ?? '', /lost its WAL/));
  test('invalidated, with the reason PostgreSQL 17+ gives', () =>
    assert.match(
      assessSlot({ ...healthy, walStatus: 'lost', invalidationReason: 'idle_timeout' }) ?? '',
      /^replication slot s was invalidated \(idle_timeout\)/,
    ));
  test('lagging beyond the threshold', () => {
    assert.equal(assessSlot({ ...healthy, lagBytes: LAGGING_BYTES }), undefined);
    assert.match(assessSlot({ ...healthy, lagBytes: LAGGING_BYTES + 1 }) ?? '', /bytes behind/);
  });

  test('a relay is recognised by the application names of its lock and replication sessions', () => {
    assert.deepEqual(relayApplicationNames('orders'), ['outbox-relay:orders:lock', 'outbox-relay:orders']);
  });

  test('formatStatus shows the last error only when there is one', () => {
    const status: RelayStatus = {
      slot: 's',
      slotExists: true,
      active: true,
      activePid: 42,
      confirmedLsn: '0/1',
      retainedWalBytes: 10,
      replicationLagBytes: 5,
      walStatus: 'reserved',
      invalidationReason: null,
      pendingRows: 3,
      pendingRowsEstimated: false,
      deadLetters: 1,
      relayRunning: true,
      lastError: null,
      lastErrorAt: null,
      healthy: true,
      problem: undefined,
    };
    assert.doesNotMatch(formatStatus(status), /last error/);
    assert.match(formatStatus(status), /active +yes \(pid 42\)/);
    const failing = formatStatus({ ...status, lastError: 'kafka down', lastErrorAt: 'T' });
    assert.match(failing, /last error +T kafka down/);
    assert.match(formatStatus(status), /invalidated +-/);
    assert.match(formatStatus({ ...status, invalidationReason: 'wal_removed' }), /invalidated +wal_removed/);
  });
});
