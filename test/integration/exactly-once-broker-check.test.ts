// Exactly-once's start-up check against a real broker whose transactions cannot work: a second
// single-node Kafka (deploy/local/kafka.sh, in a run dir and on ports of its own) with
// transaction.state.log.replication.factor=3, which would refuse every transactional producer.
// The relay must end start-up with exit 2 and one line saying what to set.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import { createTestDatabase, ROOT } from '../kit/services.js';

const run = promisify(execFile);

after(assertNoProcessLeft);

// The two ports after the main broker's (broker and controller listeners).
const MAIN_PORT = Number(process.env.OUTBOX_KAFKA_PORT ?? 19092);
const PORT = MAIN_PORT + 2;
const BROKER_ENV = {
  ...process.env,
  OUTBOX_KAFKA_PORT: String(PORT),
  OUTBOX_KAFKA_CONTROLLER_PORT: String(PORT + 1),
  OUTBOX_RELAY_RUN_DIR: `${process.env.OUTBOX_RELAY_RUN_DIR ?? '/var/tmp/outbox-relay'}/kafka-no-transactions`,
  OUTBOX_KAFKA_PROPERTIES: 'transaction.state.log.replication.factor=3 transaction.state.log.min.isr=2',
};

function broker(command: 'start' | 'stop'): Promise<unknown> {
  return run('bash', [`${ROOT}/deploy/local/kafka.sh`, command], {
    cwd: ROOT,
    env: BROKER_ENV,
    timeout: 300_000,
  });
}

before(() => broker('start'));
after(() => broker('stop'));

test('exactly-once: a broker whose transaction log cannot be created ends start-up with exit 2 and one line', async () => {
  const db = await createTestDatabase('eos_notx');
  const relay = startRelayProcess(
    relayEnv(db, { KAFKA_EXACTLY_ONCE: 'true', KAFKA_BROKERS: `127.0.0.1:${PORT}` }),
  );
  try {
    assert.equal(await relay.exited, 2);
    const errors = relay.output.filter((line) => line.startsWith('outbox-relay:'));
    assert.equal(errors.length, 1, `one line: ${errors.join(' | ')}`);
    assert.match(
      errors[0]!,
      /configuration error: KAFKA_EXACTLY_ONCE.*1 broker\(s\) but transaction\.state\.log\.replication\.factor=3: set it \(and transaction\.state\.log\.min\.isr\) to at most 1 on the brokers, or unset KAFKA_EXACTLY_ONCE/,
    );
  } finally {
    await relay.stop('SIGKILL');
    await db.drop();
  }
});
