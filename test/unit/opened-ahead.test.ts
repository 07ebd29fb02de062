import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openAhead } from '../../src/db/opened-ahead.js';

class FakeConnection {
  readonly controller = new AbortController();
  released = 0;
  get lost(): AbortSignal {
    return this.controller.signal;
  }
  release(): Promise<void> {
    this.released += 1;
    return Promise.resolve();
  }
}

describe('openAhead', () => {
  test('hands the connection out once, waiting for it while it connects', async () => {
    const connection = new FakeConnection();
    let connect!: (value: FakeConnection) => void;
    const ahead = openAhead(new Promise<FakeConnection>((resolve) => (connect = resolve)), 60_000);
    const taking = ahead.take();
    connect(connection);
    assert.equal(await taking, connection);
    assert.equal(await ahead.take(), undefined);
    await ahead.discard();
    assert.equal(connection.released, 0, 'a connection handed out is the taker’s to close');
  });

  test('a connection lost before it is taken is closed, and the caller opens its own', async () => {
    const connection = new FakeConnection();
    const ahead = openAhead(Promise.resolve(connection), 60_000);
    connection.controller.abort();
    assert.equal(await ahead.take(), undefined);
    assert.equal(connection.released, 1);
  });

  test('a connection that failed to open gives undefined, not its error', async () => {
    const ahead = openAhead(Promise.reject(new Error('connection refused')), 60_000);
    assert.equal(await ahead.take(), undefined);
  });

  test('discard closes a connection not taken; take afterwards gives undefined', async () => {
    const connection = new FakeConnection();
    const ahead = openAhead(Promise.resolve(connection), 60_000);
    await ahead.discard();
    await ahead.discard();
    assert.equal(connection.released, 1);
    assert.equal(await ahead.take(), undefined);
  });

  test('a connection not taken within its time is closed', async () => {
    const connection = new FakeConnection();
    const ahead = openAhead(Promise.resolve(connection), 1);
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (connection.released > 0) resolve();
        else setTimeout(check, 1);
      };
      check();
    });
    assert.equal(connection.released, 1);
    assert.equal(await ahead.take(), undefined);
  });
});
