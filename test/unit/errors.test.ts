import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { coerceError, errorMessage, replicationErrorKind, sqlState } from '../../src/errors.js';

describe('coerceError / errorMessage', () => {
  test('an Error stays itself', () => {
    const error = new TypeError('boom');
    assert.equal(coerceError(error), error);
  });

  test('strings and objects become Errors that say what was thrown', () => {
    assert.equal(errorMessage('broker gone'), 'broker gone');
    assert.equal(errorMessage({ code: 320, reason: 'forced' }), '{"code":320,"reason":"forced"}');
    assert.equal(errorMessage(undefined), 'undefined');
    assert.deepEqual(coerceError({ a: 1 }).cause, { a: 1 });
  });
});

describe('decisions by SQLSTATE', () => {
  const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

  test('reads a SQLSTATE, and nothing else, from an error', () => {
    assert.equal(sqlState(pgError('55006', 'x')), '55006');
    assert.equal(sqlState(pgError('ECONNREFUSED', 'x')), undefined);
    assert.equal(sqlState(new Error('replication slot "s" is active for PID 42')), undefined);
  });

  test('a slot still held by a walsender is recognised by its code, not its text', () => {
    assert.equal(replicationErrorKind(pgError('55006', 'any wording')), 'slot_busy');
    assert.equal(replicationErrorKind(new Error('replication slot "s" is active for PID 42')), undefined);
    assert.equal(replicationErrorKind(pgError('57P01', 'terminating connection')), undefined);
  });
});
