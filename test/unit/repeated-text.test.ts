// Column text decoded once while it repeats from row to row (wal/repeated-text.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lastOf, RepeatedText } from '../../src/wal/repeated-text.js';

/** `text` inside a larger message, as a column sits in a pgoutput tuple. */
function inMessage(text: string): { message: Buffer; at: number; length: number } {
  const bytes = Buffer.from(text);
  return {
    message: Buffer.concat([Buffer.from('prefix'), bytes, Buffer.from('suffix')]),
    at: 6,
    length: bytes.length,
  };
}

describe('RepeatedText', () => {
  test('the same bytes give the same string; other bytes of any length give their own text', () => {
    const column = new RepeatedText();
    const read = (text: string): string => {
      const { message, at, length } = inMessage(text);
      return column.read(message, at, length);
    };
    const first = read('2026-12-01 16:14:00.123456+00');
    assert.equal(first, '2026-12-01 16:14:00.123456+00');
    assert.equal(read('2026-12-01 16:14:00.123456+00'), first);
    assert.equal(read('2026-12-01 16:14:00.123457+00'), '2026-12-01 16:14:00.123457+00');
    assert.equal(read('ünï ✓'), 'ünï ✓');
    assert.equal(read(''), '');
    const long = 'x'.repeat(1_000) + 'ü';
    assert.equal(read(long), long);
    assert.equal(read(long.slice(0, 999) + 'y' + 'ü'), long.slice(0, 999) + 'y' + 'ü');
    // Bytes that the driver overwrote after the first read do not change what was remembered.
    const { message, at, length } = inMessage('abc');
    assert.equal(column.read(message, at, length), 'abc');
    message.write('abd', at);
    assert.equal(column.read(message, at, length), 'abd');
  });
});

describe('lastOf', () => {
  test('derives again only when its input changes', () => {
    const inputs: string[] = [];
    const derive = lastOf((text: string) => {
      inputs.push(text);
      return { text };
    });
    const a = derive('a');
    assert.equal(derive('a'), a);
    assert.notEqual(derive('b'), a);
    assert.deepEqual(derive('a'), { text: 'a' });
    assert.deepEqual(inputs, ['a', 'b', 'a']);
  });
});
