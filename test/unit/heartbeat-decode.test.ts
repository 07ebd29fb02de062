// The heartbeat is a logical message: if pgoutput ever forwards it (`messages 'true'`), the decoder
// must pass it over, inside or outside a transaction.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PgoutputPlugin } from 'pg-logical-replication';
import { HEARTBEAT_PREFIX } from '../../src/wal/heartbeat.js';
import { OutboxDecoder } from '../../src/wal/decode.js';

// https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html ("Message")
function logicalMessage(transactional: boolean, lsn: bigint, prefix: string, content: string): Buffer {
  const flags = Buffer.from([transactional ? 1 : 0]);
  const position = Buffer.alloc(8);
  position.writeBigInt64BE(lsn);
  const body = Buffer.from(content);
  const length = Buffer.alloc(4);
  length.writeInt32BE(body.length);
  return Buffer.concat([Buffer.from('M'), flags, position, Buffer.from(`${prefix}\0`), length, body]);
}

describe('OutboxDecoder.decode with logical messages', () => {
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: ['p'] });
  for (const transactional of [false, true]) {
    test(`ignores a ${transactional ? 'transactional' : 'non-transactional'} heartbeat message`, () => {
      const message = logicalMessage(transactional, 0x1_0000_0028n, HEARTBEAT_PREFIX, 'slot');
      // The fixture is a logical message to another parser too (pg-logical-replication's).
      assert.equal(plugin.parse(message).tag, 'message');
      assert.equal(new OutboxDecoder({ schema: 'public', name: 'outbox' }).decode(message), null);
    });
  }
});
