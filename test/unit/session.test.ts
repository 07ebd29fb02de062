import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CompletedEvent } from '../../src/completion.js';
import { CatchUpTracker } from '../../src/observability/catch-up.js';
import type { DeliveryOutcome } from '../../src/pipeline/delivery.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import type { TransactionOwner } from '../../src/pipeline/dispatcher.js';
import { Session } from '../../src/pipeline/session.js';
import type { TransactionHandle } from '../../src/pipeline/watermark.js';
import { InFlightWindow } from '../../src/pipeline/window.js';
import type { OutboxEvent, WalChange } from '../../src/wal/event.js';
import { outboxEvent } from '../kit/events.js';
import type { WalSource } from '../../src/wal/source.js';

const begin: WalChange = { kind: 'begin', commitLsn: 0n, commitTimeMs: 0 };
const insert = (id: string): WalChange => ({ kind: 'event', event: outboxEvent({ id }) });
const commit = (endLsn: bigint): WalChange => ({ kind: 'commit', endLsn, commitTimeMs: 0 });

class FakeSource implements WalSource {
  readonly confirms: bigint[] = [];
  pauses = 0;
  resumes = 0;
  confirm(lsn: bigint): void {
    this.confirms.push(lsn);
  }
  pause(): void {
    this.pauses += 1;
  }
  resume(): void {
    this.resumes += 1;
  }
  get last(): bigint | undefined {
    return this.confirms.at(-1);
  }
  get highest(): bigint {
    return this.confirms.reduce((max, lsn) => (lsn > max ? lsn : max), 0n);
  }
}

interface Dispatched {
  readonly event: OutboxEvent;
  readonly transaction: TransactionHandle;
  readonly owner: TransactionOwner;
}

/**
 * A session on a fake source, with the test standing in for delivery and completion: events stay in
 * flight (in the window) until complete() finishes them, in order, as one batch.
 */
function harness({ maxEvents = 100, startLsn = 100n } = {}) {
  const source = new FakeSource();
  const window = new InFlightWindow(maxEvents, Number.MAX_SAFE_INTEGER);
  const stop = new AbortController();
  const inFlight: Dispatched[] = [];
  const idle: bigint[] = [];
  let peak = 0;
  const session = new Session({
    source,
    startLsn,
    window,
    dispatch: (event, transaction, owner) => {
      window.add(1);
      peak = Math.max(peak, window.events);
      inFlight.push({ event, transaction, owner });
    },
    stopping: stop.signal,
    onIdle: (lsn) => idle.push(lsn),
  });
  const complete = (count = inFlight.length): string[] => {
    const batch = inFlight.splice(0, count);
    for (const { transaction, owner } of batch) {
      window.remove(1);
      owner.complete(transaction);
    }
    session.afterBatch();
    return batch.map(({ event }) => event.id);
  };
  const receive = (...changes: WalChange[]): void => changes.forEach((change) => session.receive(change));
  return { source, window, stop, inFlight, idle, session, complete, receive, peak: () => peak };
}

describe('Session', () => {
  test('confirms a transaction only after its commit arrived and every event completed', () => {
    const { source, complete, receive } = harness();
    receive(begin, insert('a'), insert('b'));
    complete(1);
    assert.deepEqual(source.confirms, [], 'no commit yet');
    receive(commit(200n));
    assert.deepEqual(source.confirms, [], 'one event still in flight');
    complete();
    assert.deepEqual(source.confirms, [200n]);
  });

  test('a transaction whose events all completed before its commit arrived is not finished', () => {
    const { source, session, complete, receive } = harness();
    receive(begin, insert('a'));
    complete();
    session.keepalive(300n, false);
    assert.deepEqual(source.confirms, [], 'half-received: neither the server position nor anything else');
    receive(insert('b'), commit(400n));
    complete();
    assert.deepEqual(source.confirms, [400n]);
  });

  test('never confirms past an incomplete transaction, even when later ones finished', () => {
    const { source, session, inFlight, complete, receive } = harness();
    receive(begin, insert('first'), commit(200n), begin, insert('second'), commit(300n));
    // Complete the second transaction's event only.
    const [first] = inFlight.splice(0, 1);
    complete();
    session.reportStatus();
    session.keepalive(400n, true);
    assert.ok(source.highest <= 100n, `confirmed ${source.highest} with 200 unfinished`);
    inFlight.push(first!);
    complete();
    assert.equal(source.last, 300n);
  });

  test('a transaction bigger than the window flows in pieces; the watermark stays below it', () => {
    const { source, window, inFlight, complete, receive, peak } = harness({ maxEvents: 4 });
    const events = Array.from({ length: 10 }, (_, i) => insert(`e${i}`));
    receive(begin, ...events, commit(500n));
    assert.equal(inFlight.length, 4, 'only the window is dispatched');
    assert.equal(source.pauses, 1, 'the stream paused when the window filled');
    assert.equal(window.paused, true);
    const done: string[] = [];
    while (inFlight.length > 0) {
      done.push(...complete(1));
      if (done.length < 10)
        assert.ok(source.highest <= 100n, `confirmed inside the transaction after ${done.join(',')}`);
    }
    assert.deepEqual(
      done,
      events.map((change) => (change.kind === 'event' ? change.event.id : '')),
    );
    assert.ok(peak() <= 4, `at most the window in flight, saw ${peak()}`);
    assert.equal(source.last, 500n);
    assert.equal(source.resumes, 1, 'read again only once the backlog was dispatched');
    assert.equal(window.events, 0);
  });

  test('pauses when the window is full and resumes reading at half', () => {
    const { source, window, complete, receive } = harness({ maxEvents: 4 });
    receive(begin, insert('a'), insert('b'), insert('c'), insert('d'), commit(200n));
    assert.equal(source.pauses, 1);
    assert.equal(window.paused, true);
    complete(2);
    assert.equal(source.resumes, 0, '2 of 4 in flight: still full at half');
    complete(1);
    assert.equal(source.resumes, 1, '1 of 4 in flight: resumed');
    assert.equal(window.paused, false);
  });

  test('a keepalive confirms the server position only with nothing in flight and no transaction half-received', () => {
    const { source, session, complete, receive, idle } = harness();
    session.keepalive(150n, false);
    assert.deepEqual(source.confirms, [150n], 'idle: the server position is confirmed');
    assert.deepEqual(idle, [150n]);

    receive(begin, insert('a'), commit(200n));
    session.keepalive(250n, false);
    assert.deepEqual(source.confirms, [150n], 'an event in flight: nothing confirmed');
    session.keepalive(250n, true);
    assert.deepEqual(
      source.confirms,
      [150n, 150n],
      'a reply requested: the watermark, not the server position',
    );
    complete();
    assert.equal(source.last, 200n);

    receive(begin);
    session.keepalive(300n, false);
    assert.equal(source.highest, 200n, 'a transaction half-received: nothing new confirmed');
    receive(commit(310n));
    session.keepalive(320n, false);
    assert.equal(source.last, 320n, 'the empty transaction finished: idle again');
  });

  test('a keepalive does not confirm the server position past changes held back', () => {
    const { source, session, stop, inFlight, receive } = harness();
    receive(begin, insert('a'), commit(200n));
    inFlight.splice(0).forEach(({ transaction, owner }) => owner.complete(transaction));
    session.afterBatch();
    assert.equal(source.last, 200n);
    // Stopping: what arrives now is held back, undispatched, with nothing in flight.
    stop.abort();
    receive(begin, insert('b'), commit(300n));
    session.keepalive(400n, false);
    assert.equal(source.highest, 200n, 'b was received but not published');
  });

  test('once stopping, changes are held back and the stream is not resumed', () => {
    const { source, stop, inFlight, complete, receive } = harness({ maxEvents: 2 });
    receive(begin, insert('a'), insert('b'));
    assert.equal(source.pauses, 1);
    stop.abort();
    receive(insert('c'), commit(200n));
    complete();
    assert.equal(inFlight.length, 0, 'nothing dispatched after the stop');
    assert.equal(source.resumes, 0);
    assert.deepEqual(source.confirms, [], 'the commit is held back: the transaction is not finished');
  });

  test('a closed session confirms nothing more', () => {
    const { source, session, complete, receive } = harness();
    receive(begin, insert('a'), commit(200n));
    session.close();
    complete();
    session.reportStatus();
    assert.deepEqual(source.confirms, []);
  });
});

describe('Session with the dispatcher', () => {
  test('confirms only once the completion store finished the rows, and counts the window down', async () => {
    const source = new FakeSource();
    const window = new InFlightWindow(10, Number.MAX_SAFE_INTEGER);
    const stores: { batch: readonly CompletedEvent[]; finish: () => void }[] = [];
    const deadLettered: string[] = [];
    const outcomes = new Map<string, DeliveryOutcome>([
      [
        'poison',
        {
          kind: 'deadLetter',
          deadLetter: { error: 'no route', destination: undefined, attempts: 0 },
          reason: 'unroutable',
        },
      ],
    ]);
    const current: { session?: Session } = {};
    const dispatcher = new Dispatcher({
      window,
      delivery: {
        deliver: (event, _sinceMs, _position, listener) =>
          queueMicrotask(() => listener.settled(outcomes.get(event.id) ?? { kind: 'delivered' })),
      },
      completion: {
        complete: (batch) => new Promise<void>((resolve) => stores.push({ batch, finish: resolve })),
      },
      batchSize: 100,
      metrics: { deadLettered: (reason) => deadLettered.push(reason) },
      logger: { warn: () => undefined },
      catchUp: new CatchUpTracker(),
      afterBatch: () => current.session?.afterBatch(),
    });
    const session = new Session({
      source,
      startLsn: 100n,
      window,
      dispatch: (event, transaction, owner) => dispatcher.dispatch(event, transaction, owner),
      stopping: new AbortController().signal,
    });
    current.session = session;
    for (const change of [begin, insert('a'), insert('poison'), commit(200n)]) session.receive(change);
    assert.equal(window.events, 2, 'the in-flight gauge counts both events');
    while (stores.length === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      stores[0]!.batch.map(({ event, deadLetter }) => [event.id, deadLetter?.error]),
      [
        ['a', undefined],
        ['poison', 'no route'],
      ],
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(source.confirms, [], 'delivered but not completed: nothing confirmed');
    assert.equal(window.events, 2);
    stores[0]!.finish();
    await dispatcher.drain(() => Number.POSITIVE_INFINITY);
    assert.deepEqual(source.confirms, [200n]);
    assert.deepEqual(deadLettered, ['unroutable']);
    assert.equal(window.events, 0);
  });
});
