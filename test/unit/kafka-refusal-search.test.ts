// RefusalSearch: finding the message a Kafka transaction was refused for, one message per
// transaction, and remembering it so that a later progress record does not skip its retry.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RefusalSearch } from '../../src/sinks/kafka-refusal-search.js';
import type { FormattedDestination } from '../../src/sinks/sink.js';
import type { WalPosition } from '../../src/wal/event.js';

const topic = (name: string) => ({ topic: name }) as unknown as FormattedDestination;
const at = (commitLsn: bigint, index: number): WalPosition => ({ commitLsn, index });
const message = (commitLsn: bigint, index: number, to = 'orders') => ({
  position: at(commitLsn, index),
  destination: topic(to),
});
const head = [at(1n, 0), at(1n, 1), at(2n, 0), at(3n, 0)];

describe('RefusalSearch', () => {
  test('sizes transactions as kafka-progress does until a refusal, then one message at a time', () => {
    const search = new RefusalSearch();
    assert.equal(search.nextSize(head, 2), 2);
    search.search(3);
    assert.equal(search.nextSize(head, 2), 1);
  });

  test('the search ends after as many single transactions as the refused batch held', () => {
    const search = new RefusalSearch();
    search.search(3);
    search.sent([message(1n, 0)]);
    search.refusedAlone(message(1n, 1));
    assert.equal(search.nextSize(head, 10), 1);
    search.sent([message(2n, 0)]);
    assert.equal(search.nextSize(head, 10), 4);
  });

  test('a refused message is remembered by position and destination until it gets through', () => {
    const search = new RefusalSearch();
    search.refusedAlone(message(5n, 2, 'orders'));
    assert.equal(search.isRefused(message(5n, 2, 'orders')), true);
    assert.equal(search.isRefused(message(5n, 2, 'audit')), false, 'another destination of the event');
    assert.equal(search.isRefused(message(5n, 3, 'orders')), false);
    search.sent([message(5n, 2, 'orders')]);
    assert.equal(search.isRefused(message(5n, 2, 'orders')), false);
  });

  test('a sweep row (no position) is never refused by position', () => {
    const search = new RefusalSearch();
    search.refusedAlone({ position: undefined, destination: topic('orders') });
    assert.equal(search.isRefused({ position: undefined, destination: topic('orders') }), false);
  });

  test('reset ends a search under way', () => {
    const search = new RefusalSearch();
    search.search(5);
    search.reset();
    assert.equal(search.nextSize(head, 10), 4);
  });
});
