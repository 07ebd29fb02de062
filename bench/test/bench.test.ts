// The bench's pure parts: statistics, /proc parsing, target checks and the README section.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { baselineMarkdown, summarisePairs } from '../baseline.js';
import type { BaselineResults } from '../baseline.js';
import { connectorProperties } from '../debezium.js';
import { rawMessageFactory } from '../brokers.js';
import { paced, transactionOf } from '../load.js';
import { latencyMarkdown } from '../report-latency.js';
import { debeziumMarkdown } from '../report-debezium.js';
import { AVRO_MIN_SHARE_OF_NATIVE, formatEnv, formatShares, formatsMarkdown } from '../formats.js';
import type { FormatResults, FormatRun } from '../formats.js';
import { FORMAT_NAMES, parseOptions } from '../options.js';
import { packageOf, summarizeProfile } from '../profile.js';
import { parseStat } from '../proc.js';
import { BEGIN, END, updateReadme } from '../readme.js';
import { computeRatios, evaluateTargets } from '../results.js';
import type { SinkResults } from '../results.js';
import type { Throughput } from '../scenarios.js';
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
      'latency-p99-floor': undefined,
      'relay-rss': false,
      'postgres-cpu': true,
    });
  });

  test('a target the run did not measure is neither met nor missed', () => {
    const targets = evaluateTargets({ ...partial, latency: undefined, scaling: undefined });
    assert.equal(targets.find((target) => target.id === 'latency-p99')!.met, undefined);
    assert.equal(targets.find((target) => target.id === 'relay-rss')!.met, undefined);
  });

  test("the p99 at 1,000/s is checked against the consumer's floor of the same run, both figures shown", () => {
    const at = (relayP99: number, floorP99: number | undefined) => {
      const run = (p99Ms: number) => ({ consumed: { p99Ms }, per100k: { postgresCpuSeconds: 1 } });
      const latency = [
        { offeredRate: 200, relay: run(50), poller: run(60) },
        {
          offeredRate: 1000,
          relay: run(relayP99),
          poller: run(40),
          floor: floorP99 === undefined ? undefined : { consumed: { p99Ms: floorP99 } },
        },
      ];
      const measured = { ...partial, backlog: undefined, latency } as unknown as Omit<
        SinkResults,
        'ratios' | 'targets'
      >;
      const ratios = computeRatios(measured);
      return {
        ratios,
        target: evaluateTargets({ ...measured, ratios }).find((t) => t.id === 'latency-p99-floor')!,
      };
    };
    const met = at(14.5, 4.75);
    assert.deepEqual(met.ratios.latencyP99AboveFloorMs, { '200': undefined, '1000': 9.75 });
    assert.equal(met.target.met, true);
    assert.equal(met.target.measured, '9.75 ms above: outbox-relay p99 14.5 ms, floor p99 4.75 ms');
    const missed = at(30, 4.75).target;
    assert.equal(missed.met, false);
    assert.match(missed.measured, /25\.25 ms above: outbox-relay p99 30 ms, floor p99 4\.75 ms/);
    assert.match(at(6.9, 10.89).target.measured, /^3\.99 ms below: /);
    const noFloor = at(14.5, undefined).target;
    assert.equal(noFloor.met, undefined);
    assert.equal(noFloor.measured, 'not measured');
  });

  test("the latency table puts the consumer's floor beside each rate's relays, and how far above it they are", () => {
    const run = (p50Ms: number, p99Ms: number) => ({
      load: { eventsPerSecond: 1000 },
      consumed: { p50Ms, p95Ms: p99Ms, p99Ms },
      per100k: { processCpuSeconds: 1, postgresCpuSeconds: 2 },
    });
    const results = {
      machine: { cores: 2 },
      options: { latencySeconds: 20, warmupSeconds: 3, latencyTxSize: 10 },
      latency: [
        {
          offeredRate: 1000,
          relay: run(3, 12.5),
          poller: run(9, 30),
          floor: {
            offeredRate: 1000,
            load: { eventsPerSecond: 1001 },
            consumed: { p50Ms: 1.5, p95Ms: 2, p99Ms: 3 },
          },
        },
        { offeredRate: 10_000, relay: run(4, 20), poller: run(10, 40) },
      ],
    } as unknown as SinkResults;
    const rows = latencyMarkdown(results)
      .split('\n')
      .filter((line) => line.startsWith('| 1'));
    assert.deepEqual(
      rows.map((row) => row.split(' | ').slice(1, 5)),
      [
        ['outbox-relay', '1,000', '3 / 12.5 / 12.5', '9.5'],
        ['polling relay', '1,000', '9 / 30 / 30', '27'],
        ['consumer floor (client → broker → consumer)', '1,001', '1.5 / 2 / 3', ''],
        ['outbox-relay', '1,000', '4 / 20 / 20', '–'],
        ['polling relay', '1,000', '10 / 40 / 40', '–'],
      ],
    );
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

  test('--formats: a list, or all; the whole bench without it; an unknown name is a usage error', () => {
    assert.deepEqual(parseOptions([]).formats, []);
    assert.deepEqual(parseOptions(['--formats', 'native,avro, protobuf,avro']).formats, [
      'native',
      'avro',
      'protobuf',
    ]);
    assert.deepEqual(parseOptions(['--formats', 'all']).formats, [...FORMAT_NAMES]);
    assert.throws(
      () => parseOptions(['--formats', 'native,xml']),
      /--formats: expected all or a list of native, /,
    );
    assert.throws(() => parseOptions(['--formats', '']), /--formats/);
  });
});

describe('bench formats comparison', () => {
  const run = (format: string, eventsPerSecond: number): FormatRun =>
    ({ format, relay: { eventsPerSecond, per100k: {}, cost: {} } }) as unknown as FormatRun;

  test("each format's share of native's throughput, and the Avro bound", () => {
    const runs = [run('native', 40_000), run('avro', 30_000), run('protobuf', 20_000)];
    const shares = formatShares(runs);
    assert.deepEqual(shares.shareOfNative, { native: 1, avro: 0.75, protobuf: 0.5 });
    assert.deepEqual(shares.avroTarget, { share: 0.75, min: AVRO_MIN_SHARE_OF_NATIVE, met: true });
    assert.equal(formatShares([run('native', 40_000), run('avro', 27_000)]).avroTarget?.met, false);
    assert.deepEqual(formatShares([run('avro', 1)]), { shareOfNative: {}, avroTarget: undefined });

    const results = {
      sink: 'kafka',
      options: { events: 1000, txSize: 100, payloadBytes: 300 },
      runs,
      ...shares,
    } as unknown as FormatResults;
    const markdown = formatsMarkdown(results);
    assert.match(markdown, /^\| avro \| 30000 \| 0\.75 \|/m);
    assert.match(markdown, /Avro keeps 75 % of native's throughput \(bound: at least 70 %\): met\./);
  });

  test('a format run sets OUTBOX_FORMAT and the schemas of bench/schemas', () => {
    const env = formatEnv('avro');
    assert.equal(env['OUTBOX_FORMAT'], 'avro');
    assert.match(env['OUTBOX_SCHEMAS_DIR']!, /\/bench\/schemas$/);
  });
});

describe('bench baseline comparison', () => {
  const run = (events: number, seconds: number, cpu: number, rss: number): Throughput =>
    ({
      events,
      seconds,
      eventsPerSecond: Math.round(events / seconds),
      per100k: { processCpuSeconds: (cpu / events) * 100_000 },
      cost: { processCpuSeconds: cpu, processPeakRssMiB: rss, otherCpuSeconds: seconds * 0.2 },
    }) as unknown as Throughput;

  test('--baseline takes a git ref, --pairs a count; a ref that looks like an option is refused', () => {
    assert.equal(parseOptions([]).baseline, undefined);
    assert.equal(parseOptions([]).pairs, 2);
    const options = parseOptions(['--baseline', 'b9d1261', '--pairs', '3']);
    assert.equal(options.baseline, 'b9d1261');
    assert.equal(options.pairs, 3);
    assert.equal(parseOptions(['--baseline', 'origin/main~2']).baseline, 'origin/main~2');
    assert.throws(() => parseOptions(['--baseline=--upload-pack=x']), /--baseline: expected a git ref/);
    assert.throws(() => parseOptions(['--baseline', 'a b']), /--baseline/);
    assert.throws(() => parseOptions(['--pairs', '0']), /--pairs/);
  });

  test('the pairs are summed: events over seconds, CPU per 100k events, the highest RSS', () => {
    // Working tree: 200k events in 5 + 5 s with 2 + 3 CPU-s; baseline: 200k in 8 + 8 s with 5 + 5.
    const summary = summarisePairs([
      { current: run(100_000, 5, 2, 200), baseline: run(100_000, 8, 5, 300) },
      { current: run(100_000, 5, 3, 210), baseline: run(100_000, 8, 5, 290) },
    ]);
    assert.deepEqual(summary.eventsPerSecond, { current: 20_000, baseline: 12_500 });
    assert.deepEqual(summary.cpuSecondsPer100k, { current: 2.5, baseline: 5 });
    assert.deepEqual(summary.peakRssMiB, { current: 210, baseline: 300 });
    assert.equal(summary.cpuPerEventRatio, 0.5);
    assert.equal(summary.throughputRatio, 1.6);

    const markdown = baselineMarkdown({
      sink: 'kafka',
      options: { events: 100_000, txSize: 100, payloadBytes: 300 },
      baseline: { ref: 'b9d1261', commit: 'b9d1261aaaaaaaa' },
      current: { commit: 'c0ffee0000', dirty: true },
      cores: 2,
      pairs: [{ current: run(100_000, 5, 2, 200), baseline: run(100_000, 8, 5, 300) }],
      summary,
    } as unknown as BaselineResults);
    assert.match(
      markdown,
      /^\| working tree \(c0ffee0, modified\), pair 1 \| 20000 \| 2 \| 200 \| 10 % \|$/m,
    );
    assert.match(markdown, /CPU per event, working tree \/ b9d1261: 0\.5; throughput: 1\.6\./);
  });
});

describe('bench Debezium baseline', () => {
  test("the connector reads our table and publication and writes the relay's topics; tuned adds the knobs", () => {
    const parse = (text: string): Map<string, string> =>
      new Map(text.split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]));
    const defaults = parse(connectorProperties('bench_db', 'bench_slot_dbz', 'default', 5432));
    assert.equal(defaults.get('database.dbname'), 'bench_db');
    assert.equal(defaults.get('database.port'), '5432');
    assert.equal(defaults.get('slot.name'), 'bench_slot_dbz');
    assert.equal(defaults.get('publication.name'), 'outbox_relay_pub');
    assert.equal(defaults.get('publication.autocreate.mode'), 'disabled');
    assert.equal(defaults.get('transforms.outbox.type'), 'io.debezium.transforms.outbox.EventRouter');
    assert.equal(defaults.get('transforms.outbox.table.field.event.key'), 'aggregate_id');
    assert.equal(defaults.get('transforms.outbox.route.topic.replacement'), 'outbox.${routedByValue}');
    assert.equal(defaults.has('max.batch.size'), false);
    assert.equal(defaults.has('poll.interval.ms'), false);
    const tuned = parse(connectorProperties('bench_db', 'bench_slot_dbz', 'tuned', 5432));
    assert.equal(tuned.get('max.batch.size'), '8192');
    assert.equal(tuned.get('poll.interval.ms'), '5');
    assert.equal(tuned.get('slot.name'), 'bench_slot_dbz');
  });

  test('the side-by-side table: start, throughput from start and first message, cost, latency, ratio', () => {
    const cost = { processPeakRssMiB: 1200, processCpuSeconds: 9 };
    const debezium = (profile: 'default' | 'tuned', perSecond: number) => ({
      profile,
      backlog: {
        profile,
        events: 100_000,
        startupSeconds: 20,
        fromStart: { seconds: 30, eventsPerSecond: 3_333 },
        fromFirstMessage: { seconds: 100_000 / perSecond, eventsPerSecond: perSecond },
        cost,
        cpuSecondsPer100k: 9,
      },
      latency: [{ offeredRate: 1000, consumed: { p50Ms: 200, p99Ms: 290 } }],
    });
    const results = {
      backlog: {
        relay: {
          events: 100_000,
          seconds: 2.5,
          eventsPerSecond: 40_000,
          startupSeconds: 0.5,
          per100k: { processCpuSeconds: 2.4 },
          cost: { processPeakRssMiB: 290 },
        },
      },
      latency: [{ offeredRate: 1000, relay: { consumed: { p50Ms: 5, p99Ms: 9 } } }],
      debezium: [debezium('default', 10_000), debezium('tuned', 16_000)],
      debeziumVersion: '3.4.3.Final',
    } as unknown as SinkResults;
    const markdown = debeziumMarkdown(results);
    assert.match(markdown, /\| measure \| outbox-relay \| Debezium \(default\) \| Debezium \(tuned\) \|/);
    assert.match(markdown, /\| start: [^|]+ \| 0\.5 \| 20 \| 20 \|/);
    assert.match(markdown, /\| backlog, events\/s from process start \| 33,333 \| 3,333 \| 3,333 \|/);
    assert.match(
      markdown,
      /\| 1,000 events\/s: p50 \/ p99 commit → consumed, ms \| 5 \/ 9 \| 200 \/ 290 \| 200 \/ 290 \|/,
    );
    assert.match(markdown, /outbox-relay 4\.00× Debezium \(default\), 2\.50× Debezium \(tuned\)\./);
  });
});

describe('bench pacing', () => {
  test('lanes share the events in transactions numbered on from the previous run', async () => {
    const sentAt: number[] = [];
    const sent: { lane: number; tx: number; size: number }[] = [];
    const send = (lane: number, tx: number, size: number): Promise<void> => {
      sentAt[tx] = performance.now();
      sent.push({ lane, tx, size });
      return Promise.resolve();
    };
    const first = await paced({ events: 25, txSize: 10 }, 2, sentAt, send);
    assert.deepEqual([first.events, first.transactions], [25, 3]);
    const second = await paced({ events: 10, txSize: 4 }, 3, sentAt, send);
    assert.deepEqual([second.events, second.transactions], [10, 3]);
    assert.deepEqual(
      sent.map(({ tx, size }) => [tx, size]).sort((a, b) => a[0]! - b[0]!),
      [
        [0, 10],
        [1, 10],
        [2, 5],
        [3, 4],
        [4, 4],
        [5, 2],
      ],
    );
    assert.deepEqual(new Set(sent.slice(3).map(({ lane }) => lane)), new Set([0, 1, 2]));
    assert.equal(sentAt.length, 6);
    assert.ok(sentAt.every((at) => Number.isFinite(at)));
  });

  test("the floor's messages name their transaction, as the writers' payloads do", () => {
    const message = rawMessageFactory('orders', 300);
    const one = message(7, 3);
    assert.equal(transactionOf(one.value), 3);
    assert.equal(transactionOf(message(7).value), 7);
    assert.equal(one.key, 'w3-a7');
    assert.equal(one.headers['aggregate_type'], 'orders');
    assert.equal(one.value.length, message(7, 1_234_567).value.length - 6);
  });
});

test("the latency consumer finds a payload's transaction as it is and inside Debezium's JSON envelope", () => {
  const payload = '{"tx": 42, "pad": "xx"}';
  assert.equal(transactionOf(payload), 42);
  assert.equal(transactionOf(JSON.stringify({ schema: { type: 'string' }, payload })), 42);
  assert.equal(transactionOf('{"pad": "xx"}'), -1);
});
