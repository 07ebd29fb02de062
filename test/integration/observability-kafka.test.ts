// Metrics, probes, logs and `status` of the real relay CLI against real PostgreSQL and Kafka.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { readStatus } from '../../src/status.js';
import { createTopics, TopicReader } from '../support/kafka.js';
import { probeUrl, sampleValue, scrape } from '../kit/metrics.js';
import {
  alertExpressions,
  dashboardExpressions,
  exportedNames,
  unknownNames,
} from '../support/monitoring.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, localService, ROOT, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const execFileAsync = promisify(execFile);
const MAX_MESSAGE_BYTES = 4_000;
const TABLE = { schema: 'public', name: 'outbox' };

interface CliResult {
  readonly code: number;
  readonly stdout: string;
}

async function statusCli(env: Record<string, string>, args: string[] = ['--json']): Promise<CliResult> {
  try {
    const { stdout } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'status', ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } },
    );
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '' };
  }
}

async function readyz(base: string): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const response = await fetch(`${base}/readyz`);
  return { status: response.status, body: (await response.json()) as { status: string; reason?: string } };
}

async function metric(base: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const value = sampleValue((await scrape(base)).samples, name, labels);
  if (value === undefined) throw new Error(`${name} ${JSON.stringify(labels)} is not exported`);
  return value;
}

function logLines(relay: RelayProcess): Record<string, unknown>[] {
  return relay.output.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

function countLogs(relay: RelayProcess, msg: string): number {
  return logLines(relay).filter((line) => line['msg'] === msg).length;
}

describe('observability of the relay with Kafka', () => {
  let db: TestDatabase;
  let relay: RelayProcess | undefined;
  let base: string;
  let env: Record<string, string>;

  async function startRelay(): Promise<void> {
    relay = startRelayProcess(env);
    base = await probeUrl(relay);
    await relay.waitForLog('streaming');
    await waitFor('/readyz 200', async () => (await readyz(base)).status === 200);
  }

  before(async () => {
    db = await createTestDatabase('obs');
    env = relayEnv(db, {
      KAFKA_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
      METRICS_HOST: '127.0.0.1',
    });
    await startRelay();
  });
  after(async () => {
    await relay?.stop('SIGKILL');
    await db.drop();
  });

  test('counters equal the delivered counts, the histogram observed each event, no line per event', async () => {
    const orders = uniqueName('order');
    const users = uniqueName('user');
    await createTopics([`outbox.${orders}`, `outbox.${users}`]);
    const reader = await TopicReader.start([`outbox.${orders}`, `outbox.${users}`]);
    const event = (type: string, id: string, payload: unknown = { n: id }): TestEvent => ({
      aggregateType: type,
      aggregateId: id,
      eventType: 'Happened',
      payload,
    });
    const ids = await commitEvents(db.pool, [
      event(orders, 'o-1'),
      event(orders, 'o-2'),
      event(orders, 'o-3'),
      event(users, 'u-1'),
      event(users, 'u-2'),
      // Larger than KAFKA_MAX_MESSAGE_BYTES: dead-lettered as too_large.
      event(orders, 'o-big', { blob: 'x'.repeat(MAX_MESSAGE_BYTES * 2) }),
    ]);
    const messages = await reader.waitForCount(5);
    await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0);
    await reader.stop();
    const delivered = (topic: string): number => messages.filter((m) => m.topic === topic).length;
    assert.equal(delivered(`outbox.${orders}`), 3);
    assert.equal(delivered(`outbox.${users}`), 2);

    const { samples } = await scrape(base);
    const published = (destination: string): number | undefined =>
      sampleValue(samples, 'outbox_relay_events_published_total', { sink: 'kafka', destination });
    assert.equal(published(`outbox.${orders}`), delivered(`outbox.${orders}`));
    assert.equal(published(`outbox.${users}`), delivered(`outbox.${users}`));
    assert.equal(sampleValue(samples, 'outbox_relay_events_dead_lettered_total', { reason: 'too_large' }), 1);
    assert.equal(sampleValue(samples, 'outbox_relay_publish_errors_total', { sink: 'kafka' }), 0);
    assert.equal(sampleValue(samples, 'outbox_relay_end_to_end_seconds_count'), 5);
    assert.ok(sampleValue(samples, 'outbox_relay_end_to_end_seconds_sum')! > 0);
    assert.equal(sampleValue(samples, 'outbox_relay_end_to_end_seconds_bucket', { le: '+Inf' }), 5);
    assert.equal(sampleValue(samples, 'outbox_relay_leader'), 1);
    // The built command (bin/outbox-relay, bundled) loads kafkajs after preparing its module cache.
    assert.equal(sampleValue(samples, 'outbox_relay_kafka_record_encoder_active'), 1);
    assert.equal(sampleValue(samples, 'outbox_relay_lag_seconds'), 0);
    assert.ok(sampleValue(samples, 'process_resident_memory_bytes')! > 0);
    // Labels stay bounded: no aggregate id anywhere in the metrics.
    for (const sample of samples) {
      for (const value of Object.values(sample.labels)) assert.doesNotMatch(value, /^[ou]-/);
    }

    // Logs: lifecycle lines, one per dead letter, none per delivered event.
    const lines = logLines(relay!);
    const lifecycle = ['kafka: produce encoder installed', 'starting', 'streaming', 'caught up'];
    for (const msg of [...lifecycle, 'slot acquired: this instance is the leader']) {
      assert.ok(
        lines.some((line) => line['msg'] === msg),
        `a '${msg}' log line`,
      );
    }
    assert.equal(countLogs(relay!, 'event dead-lettered'), 1);
    assert.deepEqual(
      lines.filter((line) => /not installed/.test(String(line['msg']))),
      [],
      "kafkajs' internals prepared",
    );
    const deadLetterLine = lines.find((line) => line['msg'] === 'event dead-lettered')!;
    assert.equal(deadLetterLine['id'], ids[5]);
    for (const id of ids.slice(0, 5)) assert.ok(!relay!.output.some((line) => line.includes(id)), id);
  });

  test('the dashboard and the alert rules use only metric names the running relay exports', async () => {
    const exported = exportedNames((await scrape(base)).text);
    for (const { panel, expr } of await dashboardExpressions())
      assert.deepEqual(unknownNames(expr, exported), [], `${panel}: ${expr}`);
    for (const { alert, expr } of await alertExpressions())
      assert.deepEqual(unknownNames(expr, exported), [], `${alert}: ${expr}`);
  });

  test('lag seconds rise and /readyz fails while Kafka is down, and both recover after', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const caughtUpBefore = countLogs(relay!, 'caught up');
    const type = uniqueName('outage');
    await createTopics([`outbox.${type}`]);
    await localService('kafka', 'stop');
    try {
      await commitEvents(db.pool, [
        { aggregateType: type, aggregateId: 'a', eventType: 'E', payload: { n: 1 } },
        { aggregateType: type, aggregateId: 'b', eventType: 'E', payload: { n: 2 } },
      ]);
      const notReady = await waitFor(
        '/readyz 503',
        async () => {
          const answer = await readyz(base);
          return answer.status === 503 ? answer.body : undefined;
        },
        { timeoutMs: 60_000 },
      );
      assert.equal(notReady.status, 'not ready');
      assert.match(notReady.reason ?? '', /kafka/);
      const firstLag = await waitFor('lag > 0', async () => {
        const lag = await metric(base, 'outbox_relay_lag_seconds');
        return lag > 0 ? lag : undefined;
      });
      await waitFor(
        'lag rising',
        async () => (await metric(base, 'outbox_relay_lag_seconds')) > firstLag + 1,
      );
      // The gauge of retained WAL is refreshed while the stream is stalled.
      await waitFor('replication lag > 0 while stalled', async () => {
        return (await metric(base, 'outbox_relay_replication_lag_bytes')) > 0;
      });
      assert.ok((await metric(base, 'outbox_relay_publish_errors_total', { sink: 'kafka' })) > 0);
      assert.equal((await fetch(`${base}/healthz`)).status, 200, 'alive while the broker is down');
      // `status` in another process sees the running relay and its last error.
      await waitFor(
        'the relay to record the Kafka error',
        async () => {
          const status = await readStatus(db.pool, db.slot, TABLE, false);
          return status.relayRunning && /kafka/i.test(status.lastError ?? '');
        },
        { timeoutMs: 30_000 },
      );
      const cli = await statusCli(env);
      assert.equal(cli.code, 0);
      const status = JSON.parse(cli.stdout) as Record<string, unknown>;
      assert.equal(status['relayRunning'], true);
      assert.equal(status['active'], true);
      assert.equal(typeof status['activePid'], 'number');
      assert.equal(status['pendingRows'], 2);
      assert.match(String(status['lastError']), /kafka/i);
    } finally {
      await localService('kafka', 'start');
    }
    await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0, { timeoutMs: 90_000 });
    await waitFor('lag back to 0', async () => (await metric(base, 'outbox_relay_lag_seconds')) === 0);
    await waitFor('/readyz 200', async () => (await readyz(base)).status === 200, { timeoutMs: 60_000 });
    await relay!.waitForLog('broker connection lost');
    await waitFor(
      'a caught up line after the outage',
      () => countLogs(relay!, 'caught up') > caughtUpBefore,
      {
        timeoutMs: 60_000,
      },
    );
  });

  test('an idle relay reports Kafka going away on /readyz, and ready again when it is back', async () => {
    await waitFor('/readyz 200 before', async () => (await readyz(base)).status === 200);
    await localService('kafka', 'stop');
    try {
      // Nothing is published: only the sink's idle probe can notice.
      const notReady = await waitFor(
        '/readyz 503 with nothing to publish',
        async () => {
          const answer = await readyz(base);
          return answer.status === 503 ? answer.body : undefined;
        },
        { timeoutMs: 30_000 },
      );
      assert.match(notReady.reason ?? '', /kafka/);
    } finally {
      await localService('kafka', 'start');
    }
    await waitFor('/readyz 200 after', async () => (await readyz(base)).status === 200, {
      timeoutMs: 60_000,
    });
  });

  test('replication lag bytes grow while the relay is stopped and return near zero after it catches up', async () => {
    assert.equal(await relay!.stop('SIGTERM'), 0);
    relay = undefined;
    // The server ends the relay's sessions a moment after the process exits.
    await waitFor(
      'no relay session left',
      async () => !(await readStatus(db.pool, db.slot, TABLE, false)).relayRunning,
    );
    const stopped = JSON.parse((await statusCli(env)).stdout) as Record<string, unknown>;
    assert.equal(stopped['active'], false);
    assert.equal(stopped['relayRunning'], false, 'a stopped relay is not running');
    const type = uniqueName('backlog');
    await createTopics([`outbox.${type}`]);
    const events: TestEvent[] = Array.from({ length: 500 }, (_, i) => ({
      aggregateType: type,
      aggregateId: `k${i % 10}`,
      eventType: 'E',
      payload: { i, pad: 'p'.repeat(1_000) },
    }));
    await commitEvents(db.pool, events);
    const grown = await statusCli(env);
    assert.equal(grown.code, 0);
    const backlog = JSON.parse(grown.stdout) as Record<string, number>;
    const growth = backlog['replicationLagBytes']! - (stopped['replicationLagBytes'] as number);
    assert.ok(growth > 500 * 1_000, `WAL grew by ${growth} bytes`);
    assert.equal(backlog['pendingRows'], 500);

    await startRelay();
    await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0, { timeoutMs: 90_000 });
    const nearZero = growth / 20;
    await waitFor(
      `replication lag below ${nearZero} bytes`,
      async () => (await metric(base, 'outbox_relay_replication_lag_bytes')) < nearZero,
      { timeoutMs: 60_000 },
    );
    const after = JSON.parse((await statusCli(env)).stdout) as Record<string, unknown>;
    assert.equal(after['pendingRows'], 0);
    assert.equal(after['slotExists'], true);
    assert.equal(after['healthy'], true);
  });

  test('status exits 1 and says so when the slot is missing', async () => {
    const missing = await statusCli({ ...env, OUTBOX_SLOT: uniqueName('missing') });
    assert.equal(missing.code, 1);
    const status = JSON.parse(missing.stdout) as Record<string, unknown>;
    assert.equal(status['slotExists'], false);
    assert.equal(status['healthy'], false);
    assert.match(String(status['problem']), /does not exist/);
    const text = await statusCli({ ...env, OUTBOX_SLOT: uniqueName('missing') }, []);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /\(missing\)/);
    assert.match(text.stdout, /PROBLEM: replication slot \w+ does not exist/);
  });
});
