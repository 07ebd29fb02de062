// The bench's pure parts: statistics, /proc parsing, target checks and the README section.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseOptions } from '../options.js';
import { packageOf, summarizeProfile } from '../profile.js';
import { parseStat } from '../proc.js';
import { BEGIN, END, updateReadme } from '../readme.js';
import { evaluateTargets } from '../results.js';
import type { SinkResults } from '../results.js';
import { bucketDelta, histogramQuantile, percentile, shareAtMost, summarize } from '../stats.js';

describe('bench stats', () => {
  test('percentile is the nearest rank', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(sorted, 50), 50);
    assert.equal(percentile(sorted, 99), 99);
    assert.equal(percentile(sorted, 100), 100);
    assert.equal(percentile(new Float64Array(0), 50), undefined);
    assert.deepEqual(summarize([3, 1, 2]), { samples: 3, p50Ms: 2, p95Ms: 3, p99Ms: 3, maxMs: 3 });
  });

  test('histogram quantiles interpolate within the bucket, as histogram_quantile does', () => {
    const before = new Map([
      [0.01, 10],
      [0.025, 10],
      [Infinity, 10],
    ]);
    const after = new Map([
      [0.01, 60],
      [0.025, 100],
      [Infinity, 110],
    ]);
    const delta = bucketDelta(before, after);
    assert.deepEqual(
      [...delta],
      [
        [0.01, 50],
        [0.025, 90],
        [Infinity, 100],
      ],
    );
    assert.equal(histogramQuantile(0.5, delta), 0.01);
    assert.ok(Math.abs(histogramQuantile(0.7, delta)! - 0.0175) < 1e-9);
    assert.equal(histogramQuantile(0.99, delta), 0.025);
    assert.equal(shareAtMost(0.025, delta), 0.9);
  });
});

describe('bench /proc parsing', () => {
  test('reads ppid and CPU ticks even when the command name has spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, () => '0');
    fields[1] = '42'; // ppid (field 4)
    fields[11] = '150'; // utime (field 14)
    fields[12] = '50'; // stime
    fields[13] = '300'; // cutime
    fields[14] = '100'; // cstime
    const stat = parseStat(`123 (postgres: a (b) c) S ${fields.slice(1).join(' ')}`);
    assert.equal(stat.ppid, 42);
    assert.equal(stat.cpuSeconds, 2);
    assert.equal(stat.childrenCpuSeconds, 4);
  });
});

describe('bench profile summary', () => {
  test('attributes self time to packages and functions', () => {
    const frame = (id: number, functionName: string, url: string) => ({
      id,
      callFrame: { functionName, url, lineNumber: 0 },
    });
    const summary = summarizeProfile({
      nodes: [
        frame(1, 'encode', 'file:///x/node_modules/kafkajs/src/protocol/encoder.js'),
        frame(2, 'dispatch', 'file:///x/dist/relay.js'),
        frame(3, '(garbage collector)', ''),
      ],
      samples: [1, 1, 2, 3],
      timeDeltas: [1000, 1000, 1000, 1000],
    });
    assert.equal(summary.totalMs, 4);
    assert.deepEqual(
      summary.byPackage.map((entry) => [entry.name, entry.share]),
      [
        ['kafkajs', 0.5],
        ['outbox-relay', 0.25],
        ['(garbage collector)', 0.25],
      ],
    );
    assert.equal(summary.topFunctions[0]!.where, 'kafkajs/src/protocol/encoder.js:1');
    assert.equal(packageOf('node:internal/buffer', 'FastBuffer'), 'node');
  });
});

describe('bench results', () => {
  const partial = {
    sink: 'kafka',
    options: { payloadBytes: 300 },
    backlog: {
      relay: { eventsPerSecond: 30_000 },
      recvlogical: { eventsPerSecond: 100_000 },
    },
    latency: [
      { offeredRate: 1000, relay: { relayHistogram: { within25Ms: 0.995 }, consumed: { p99Ms: 12 } } },
    ],
    scaling: { backlogs: [{ events: 1_000_000, relay: { cost: { processPeakRssMiB: 250 } } }] },
    ratios: { backlogToRecvlogical: 0.3, backlogPostgresCpuToPoller: 0.1, livePostgresCpuToPoller: 0.12 },
  } as unknown as Omit<SinkResults, 'targets'>;

  test('checks each target of the issue against the measurements', () => {
    const met = Object.fromEntries(evaluateTargets(partial).map((target) => [target.id, target.met]));
    assert.deepEqual(met, {
      'kafka-throughput': false,
      'latency-p99': true,
      'relay-rss': false,
      'postgres-cpu': true,
    });
  });

  test('a target the run did not measure is neither met nor missed', () => {
    const targets = evaluateTargets({ ...partial, latency: undefined, scaling: undefined });
    assert.equal(targets.find((target) => target.id === 'latency-p99')!.met, undefined);
    assert.equal(targets.find((target) => target.id === 'relay-rss')!.met, undefined);
  });

  test('the README keeps its own text and replaces only the generated section', () => {
    const input = { results: [], day: '2026-11-25', command: 'npm run bench', markdown: '| table |' };
    const first = updateReadme('# Bench\n\nintro\n', input);
    assert.ok(first.startsWith('# Bench\n\nintro\n'));
    const again = updateReadme(`${first}\n## Notes\n`, { ...input, markdown: '| new |' });
    assert.equal(again.split(BEGIN).length, 2);
    assert.ok(again.includes('| new |') && !again.includes('| table |'));
    assert.ok(again.endsWith(`${END}\n\n## Notes\n`));
  });
});

describe('bench options', () => {
  test("defaults measure both brokers with the issue's sizes", () => {
    const options = parseOptions([]);
    assert.deepEqual(options.sinks, ['kafka', 'rabbitmq']);
    assert.equal(options.events, 200_000);
    assert.deepEqual(options.rates, [1000, 10_000]);
    assert.deepEqual(options.backlogs, [10_000, 100_000, 1_000_000]);
    assert.deepEqual(options.txSizes, [1, 10, 100, 10_000]);
  });

  test('--sink and --events as in the issue; bad values are usage errors', () => {
    const options = parseOptions(['--events', '200000', '--sink', 'kafka']);
    assert.deepEqual(options.sinks, ['kafka']);
    assert.throws(() => parseOptions(['--sink', 'nats']), /--sink/);
    assert.throws(() => parseOptions(['--events', '0']), /--events/);
  });

  test('--exactly-once measures Kafka alone and leaves bench/README.md as it is', () => {
    const options = parseOptions(['--exactly-once']);
    assert.deepEqual(options.sinks, ['kafka']);
    assert.equal(options.exactlyOnce, true);
    assert.equal(options.readme, false);
    assert.equal(parseOptions([]).exactlyOnce, false);
    assert.throws(() => parseOptions(['--exactly-once', '--sink', 'rabbitmq']), /Kafka only/);
  });
});
