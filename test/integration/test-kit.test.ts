// The tests' own Kafka reader must not fail silently: a consumer that stops fetching is detected,
// replaced, reported, and nothing is read twice or lost.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { createTopics, TopicReader } from '../support/kafka.js';
import { ensureServices, KAFKA_BROKER, ROOT, uniqueName } from '../kit/services.js';

const NO_LEAKS = join(ROOT, 'test/kit/no-leaks.ts');

/**
 * Runs `source` as a test file of its own (`name` in a temporary folder) in a test runner of its own,
 * not a child reporting to this one, and returns its exit status and output.
 */
function runTestFile(
  name: string,
  source: string,
  nodeArgs: string[] = [],
): { status: number | null; stdout: string } {
  const dir = mkdtempSync(join(tmpdir(), 'test-kit-'));
  const file = join(dir, name);
  writeFileSync(file, source);
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT'];
  try {
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', ...nodeArgs, '--test', '--test-force-exit', file],
      {
        encoding: 'utf8',
        timeout: 60_000,
        env,
      },
    );
    return { status: run.status, stdout: run.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the Kafka reader replaces a stalled consumer, reports it, and reads each message once', async () => {
  await ensureServices();
  const topic = uniqueName('kit');
  await createTopics([topic]);
  const producer = new Kafka({ brokers: [KAFKA_BROKER], logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  const send = (from: number, count: number) =>
    producer.send({
      topic,
      messages: Array.from({ length: count }, (_, i) => ({
        key: `k${(from + i) % 5}`,
        value: String(from + i),
      })),
    });
  const reader = await TopicReader.start([topic]);
  try {
    await send(0, 30);
    await reader.waitForCount(30);
    reader.simulateStall();
    await send(30, 30);
    await reader.waitForCount(60, 60_000);
    assert.equal(reader.restarts.length, 1, reader.restarts.join('\n'));
    assert.match(reader.restarts[0]!, /no progress for 15 s while 30 messages behind/);
    const values = reader.messages.map((message) => Number(message.value)).sort((a, b) => a - b);
    assert.deepEqual(
      values,
      Array.from({ length: 60 }, (_, i) => i),
      'each message exactly once',
    );
  } finally {
    await reader.stop();
    await producer.disconnect();
  }
});

test('a reader that times out says where it and the topic stand', async () => {
  await ensureServices();
  const topic = uniqueName('kit');
  await createTopics([topic], 1);
  const reader = await TopicReader.start([topic]);
  try {
    await assert.rejects(reader.waitForCount(1, 500), (error: Error) => {
      assert.match(
        error.message,
        /timed out after 500 ms waiting for 1 messages; have 0; Kafka: .*:0 end 0 read 0; reader restarts: none/,
      );
      return true;
    });
  } finally {
    await reader.stop();
  }
});

test('a test file that leaves a connection or a server open fails, naming it (test/kit/no-leaks.ts)', () => {
  const run = runTestFile(
    'leaky.test.mjs',
    `import { test } from 'node:test';
import net from 'node:net';
test('opens a server and a connection to it, and closes neither', async () => {
  const server = net.createServer(() => undefined);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = net.connect(server.address().port, '127.0.0.1');
  await new Promise((resolve) => socket.on('connect', resolve));
});
`,
    ['--import', NO_LEAKS],
  );
  assert.notEqual(run.status, 0, run.stdout);
  assert.match(run.stdout, /the tests left open: .*a server .*a connection to port \d+/);
});

test('Teardown ends the last started first, and every step even after one fails, which fails the test', () => {
  const run = runTestFile(
    'steps.test.ts',
    `import { test } from 'node:test';
import { Teardown } from ${JSON.stringify(join(ROOT, 'test/kit/teardown.ts'))};
test('starts three things', (t) => {
  const teardown = new Teardown(t);
  for (const name of ['first', 'second', 'third'])
    teardown.add(name, (started) => {
      console.log('ended ' + started);
      if (started === 'second') throw new Error('second could not end');
    });
});
`,
  );
  assert.notEqual(run.status, 0, run.stdout);
  assert.match(run.stdout, /ended third[\s\S]*ended second[\s\S]*ended first/);
  assert.match(run.stdout, /second could not end/);
});
