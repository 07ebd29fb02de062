import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InFlightWindow } from '../../src/pipeline/window.js';

describe('InFlightWindow', () => {
  test('pauses once when the event limit is reached, and resumes only below half', () => {
    const window = new InFlightWindow(4, 1_000_000);
    const pauses: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      window.add(10);
      pauses.push(window.pauseIfFull());
    }
    assert.deepEqual(pauses, [false, false, false, true]);
    assert.equal(window.paused, true);
    assert.equal(window.pauseIfFull(), false, 'already paused: no second pause');
    window.remove(10);
    assert.equal(window.resumeIfHalf(), false, '3 of 4 in flight');
    window.remove(10);
    assert.equal(window.resumeIfHalf(), false, 'exactly half is still full at 0.5');
    window.remove(10);
    assert.equal(window.resumeIfHalf(), true, '1 of 4 in flight');
    assert.equal(window.paused, false);
    assert.equal(window.resumeIfHalf(), false, 'not paused: nothing to resume');
    assert.equal(window.events, 1);
    assert.equal(window.bytes, 10);
  });

  test('the byte limit pauses and resumes the same way', () => {
    const window = new InFlightWindow(1_000, 1_000);
    window.add(600);
    assert.equal(window.pauseIfFull(), false);
    window.add(400);
    assert.equal(window.pauseIfFull(), true);
    window.remove(400);
    assert.equal(window.resumeIfHalf(), false, '600 of 1000 bytes');
    window.remove(600);
    window.add(499);
    assert.equal(window.resumeIfHalf(), true, '499 of 1000 bytes');
  });

  test('untilRoom waits for a completion that makes room, and ends on abort', async () => {
    const window = new InFlightWindow(1, 1_000_000);
    window.add(1);
    let roomy = false;
    const waiting = window.untilRoom(new AbortController().signal).then(() => (roomy = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(roomy, false);
    window.notify();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(roomy, false, 'notified, but still full');
    window.remove(1);
    window.notify();
    await waiting;
    assert.equal(roomy, true);

    window.add(1);
    const stop = new AbortController();
    const stopped = window.untilRoom(stop.signal);
    stop.abort();
    window.notify();
    await stopped;
    assert.equal(window.full(), true);
  });

  test('untilEmpty ends when nothing is in flight, or at the deadline', async () => {
    const window = new InFlightWindow(10, 1_000_000);
    window.add(1);
    const started = Date.now();
    await window.untilEmpty(() => started + 50);
    assert.ok(Date.now() - started >= 45, 'waited for the deadline');
    assert.equal(window.events, 1);
    const emptied = window.untilEmpty(() => Number.POSITIVE_INFINITY);
    window.remove(1);
    window.notify();
    await emptied;
    assert.equal(window.events, 0);
  });
});
