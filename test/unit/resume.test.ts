// wal/resume.ts: what the recorded confirmed position allows a new session to skip.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planResume } from '../../src/wal/resume.js';

const SERVER = { systemId: '7441', timeline: 2 };
const RECORD = { ...SERVER, lsn: 0x5000n };

describe('planResume', () => {
  test('without a record nothing is skipped and the server is judged as before', () => {
    assert.deepEqual(planResume(undefined, undefined, SERVER), {
      verdict: { kind: 'same', message: undefined },
      skipBelow: undefined,
      note: undefined,
    });
  });

  test('same cluster and timeline: transactions below the recorded position are skipped', () => {
    const plan = planResume(undefined, RECORD, { ...SERVER });
    assert.equal(plan.verdict.kind, 'same');
    assert.equal(plan.skipBelow, 0x5000n);
    assert.equal(plan.note, undefined);
    // Also when this process last streamed from another cluster: the record is the database's own.
    assert.equal(planResume({ systemId: '9', timeline: 1 }, RECORD, SERVER).skipBelow, 0x5000n);
  });

  test('a later timeline of the same cluster: nothing skipped, and said so', () => {
    const plan = planResume(undefined, RECORD, { ...SERVER, timeline: 3 });
    assert.equal(plan.verdict.kind, 'same');
    assert.equal(plan.skipBelow, undefined);
    assert.match(
      plan.note!,
      /^the recorded confirmed position 0\/5000 is on timeline 2, the server is on timeline 3: nothing skipped/,
    );
  });

  test('another cluster (a restore): nothing skipped, and said so', () => {
    const plan = planResume(undefined, RECORD, { systemId: '9000', timeline: 2 });
    assert.equal(plan.skipBelow, undefined);
    assert.match(
      plan.note!,
      /is of system 7441, the server is system 9000 \(a restore\?\): nothing skipped$/,
    );
  });

  test('a record of a later timeline than the server refuses it as a former primary, also in a new process', () => {
    const plan = planResume(undefined, RECORD, { ...SERVER, timeline: 1 });
    assert.equal(plan.verdict.kind, 'former_primary');
    assert.match(plan.verdict.message, /^refusing to stream from timeline 1 of system 7441: /);
    assert.equal(plan.skipBelow, undefined);
  });

  test("the process's own memory still refuses a former primary, whatever the record says", () => {
    const plan = planResume(SERVER, { ...RECORD, timeline: 1 }, { ...SERVER, timeline: 1 });
    assert.equal(plan.verdict.kind, 'former_primary');
    assert.equal(plan.skipBelow, undefined);
    assert.equal(planResume(SERVER, undefined, { ...SERVER, timeline: 1 }).verdict.kind, 'former_primary');
  });

  test('a promoted standby known to this process is said so, and the record of its old timeline skips nothing', () => {
    const plan = planResume(SERVER, RECORD, { ...SERVER, timeline: 3 });
    assert.equal(plan.verdict.kind, 'new_timeline');
    assert.equal(plan.skipBelow, undefined);
    assert.ok(plan.note);
  });
});
