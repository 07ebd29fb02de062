// wal/timeline.ts: whether the server the URL leads to now may be streamed from.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { judgeServer, parseTimelineHistory } from '../../src/wal/timeline.js';

const PRIMARY = { systemId: '7441', timeline: 2 };

describe('judgeServer', () => {
  test('the first server, and the same one again, are streamed without a word', () => {
    assert.deepEqual(judgeServer(undefined, PRIMARY), { kind: 'same', message: undefined });
    assert.deepEqual(judgeServer(PRIMARY, { ...PRIMARY }), { kind: 'same', message: undefined });
  });

  test('a later timeline of the same cluster is a promoted standby: resumed, and said so', () => {
    const verdict = judgeServer(PRIMARY, { ...PRIMARY, timeline: 3 });
    assert.equal(verdict.kind, 'new_timeline');
    assert.match(verdict.message!, /^timeline 3 \(was 2\): a promoted standby/);
  });

  test('an earlier timeline of the same cluster is a former primary: refused, naming what to do', () => {
    const verdict = judgeServer(PRIMARY, { ...PRIMARY, timeline: 1 });
    assert.equal(verdict.kind, 'former_primary');
    assert.match(
      verdict.message,
      /^refusing to stream from timeline 1 of system 7441: .* point DATABASE_URL at the current primary$/,
    );
  });

  test('another cluster is streamed like a first start, and said so', () => {
    const verdict = judgeServer(PRIMARY, { systemId: '9000', timeline: 1 });
    assert.equal(verdict.kind, 'other_cluster');
    assert.match(verdict.message!, /system identifier 9000, was 7441/);
  });
});

describe('parseTimelineHistory', () => {
  test('reads each ancestor timeline and where it ended, skipping blanks and comments', () => {
    const content =
      '1\t0/3000158\tno recovery target specified\n\n# a comment\n2\t1/A0000000\tbefore 2026-12-01\n';
    assert.deepEqual(
      parseTimelineHistory(content),
      new Map([
        [1, 0x3000158n],
        [2, 0x1a0000000n],
      ]),
    );
  });

  test('an empty history has no ancestors; a line that is not one is an error', () => {
    assert.deepEqual(parseTimelineHistory(''), new Map());
    assert.throws(() => parseTimelineHistory('one\t0/1\n'), /not a timeline history line/);
    assert.throws(() => parseTimelineHistory('1\n'), /not a timeline history line/);
    assert.throws(() => parseTimelineHistory('1\tsoon\n'), /not an LSN/);
  });
});
