import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { progressTopicProblem, transactionLogProblem } from '../../src/sinks/kafka-exactly-once-checks.js';

describe('transactionLogProblem', () => {
  test('a single broker with the default replication factor of 3 cannot run transactions', () => {
    const problem = transactionLogProblem({ brokers: 1, replicationFactor: 3, minIsr: 2 });
    assert.match(problem ?? '', /transaction\.state\.log\.replication\.factor=3/);
    assert.match(problem ?? '', /at most 1/);
  });
  test('a min ISR above the replication factor is named', () => {
    assert.match(
      transactionLogProblem({ brokers: 3, replicationFactor: 2, minIsr: 3 }) ?? '',
      /transaction\.state\.log\.min\.isr=3/,
    );
  });
  test('settings the cluster can meet pass', () => {
    assert.equal(transactionLogProblem({ brokers: 1, replicationFactor: 1, minIsr: 1 }), undefined);
    assert.equal(transactionLogProblem({ brokers: 5, replicationFactor: 3, minIsr: 2 }), undefined);
  });
});

describe('progressTopicProblem', () => {
  const topic = 'outbox-relay.progress';
  test('a topic that is not compacted is an error', () => {
    const { error } = progressTopicProblem({
      topic,
      brokers: 3,
      replicas: 3,
      minIsr: 2,
      cleanupPolicy: 'delete',
    });
    assert.match(error ?? '', /cleanup\.policy=delete: set it to compact/);
  });
  test('min.insync.replicas above the replicas is an error: no write could succeed', () => {
    const { error } = progressTopicProblem({
      topic,
      brokers: 3,
      replicas: 1,
      minIsr: 2,
      cleanupPolicy: 'compact',
    });
    assert.match(error ?? '', /min\.insync\.replicas=2 but 1 replica/);
  });
  test('fewer replicas than the cluster allows is a warning', () => {
    const result = progressTopicProblem({
      topic,
      brokers: 3,
      replicas: 1,
      minIsr: 1,
      cleanupPolicy: 'compact',
    });
    assert.equal(result.error, undefined);
    assert.match(result.warning ?? '', /1 replica/);
  });
  test('a single broker with one replica, or three replicas with min ISR 2, is fine', () => {
    assert.deepEqual(
      progressTopicProblem({ topic, brokers: 1, replicas: 1, minIsr: 1, cleanupPolicy: 'compact' }),
      {},
    );
    assert.deepEqual(
      progressTopicProblem({ topic, brokers: 5, replicas: 3, minIsr: 2, cleanupPolicy: 'compact,delete' }),
      {},
    );
  });
});
