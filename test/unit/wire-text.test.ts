// The wire encoders' text writer (sinks/wire-text.ts): Buffer's own UTF-8 bytes, whatever the string.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { writeText } from '../../src/sinks/wire-text.js';

describe('writeText', () => {
  test("writes Buffer's UTF-8 bytes for short and long, ASCII and other text", () => {
    const texts = [
      '',
      'id',
      'aggregate_type',
      'x'.repeat(64),
      'x'.repeat(65),
      'ünï ✓',
      'abc😀',
      `${'a'.repeat(63)}é`,
    ];
    for (const text of texts) {
      const buf = Buffer.alloc(Buffer.byteLength(text) + 4, 0xaa);
      const written = writeText(buf, 2, text);
      assert.equal(written, Buffer.byteLength(text), text);
      assert.ok(buf.subarray(2, 2 + written).equals(Buffer.from(text)), text);
      assert.equal(buf[0], 0xaa, 'nothing written before');
      assert.equal(buf[2 + written], 0xaa, 'nothing written after');
    }
  });
});
