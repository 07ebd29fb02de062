// wal/decode.ts on pgoutput byte fixtures (PostgreSQL's documented message formats).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PgoutputPlugin } from 'pg-logical-replication';
import {
  OutboxDecoder,
  parseHeaders,
  rowToEvent,
  SWEPT_XMIN_COLUMN,
  timestamptzToIso,
} from '../../src/wal/decode.js';
import { parseLsn } from '../../src/wal/lsn.js';
import type { OutboxEvent } from '../../src/wal/event.js';

// https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
class Bytes {
  private readonly parts: Buffer[] = [];
  byte(value: number): this {
    this.parts.push(Buffer.from([value]));
    return this;
  }
  int16(value: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(value);
    this.parts.push(b);
    return this;
  }
  int32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(value);
    this.parts.push(b);
    return this;
  }
  int64(value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(value);
    this.parts.push(b);
    return this;
  }
  string(value: string): this {
    this.parts.push(Buffer.from(`${value}\0`));
    return this;
  }
  text(value: string): this {
    const bytes = Buffer.from(value);
    return this.int32(bytes.length).raw(bytes);
  }
  raw(bytes: Buffer): this {
    this.parts.push(bytes);
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const POSTGRES_EPOCH_MICROS = 946_684_800_000_000n;
const COLUMNS = [
  'id',
  'aggregate_type',
  'aggregate_id',
  'event_type',
  'payload',
  'headers',
  'created_at',
  'processed_at',
];

function relation(oid: number, schema: string, name: string, columns = COLUMNS): Buffer {
  const bytes = new Bytes()
    .byte(0x52)
    .int32(oid)
    .string(schema)
    .string(name)
    .byte(0x64)
    .int16(columns.length);
  for (const column of columns)
    bytes
      .byte(column === 'id' ? 1 : 0)
      .string(column)
      .int32(25)
      .int32(-1);
  return bytes.build();
}

function begin(finalLsn: bigint, commitMillis: number): Buffer {
  return new Bytes()
    .byte(0x42)
    .int64(finalLsn)
    .int64(BigInt(commitMillis) * 1000n - POSTGRES_EPOCH_MICROS)
    .int32(7) // the transaction id
    .build();
}

function commit(commitLsn: bigint, endLsn: bigint, commitMillis: number): Buffer {
  return new Bytes()
    .byte(0x43)
    .byte(0)
    .int64(commitLsn)
    .int64(endLsn)
    .int64(BigInt(commitMillis) * 1000n - POSTGRES_EPOCH_MICROS)
    .build();
}

function insert(oid: number, values: (string | null)[]): Buffer {
  const bytes = new Bytes().byte(0x49).int32(oid).byte(0x4e).int16(values.length);
  for (const value of values) {
    if (value === null) bytes.byte(0x6e);
    else bytes.byte(0x74).text(value);
  }
  return bytes.build();
}

const ROW = [
  '7d4f0c7e-2b51-4c43-9d2b-2f0d2e1c9a10',
  'order',
  'o-42',
  'OrderPlaced',
  '{"total": 12.5, "items": ["a", "b"]}',
  '{"traceparent": "00-abc-01", "retries": 2}',
  '2026-11-25 06:08:00.123456+00',
  null,
];

function decodeAll(messages: Buffer[], keepColumnText = true) {
  const decoder = new OutboxDecoder({ schema: 'public', name: 'outbox' }, keepColumnText);
  return messages.map((buffer) => decoder.decode(buffer));
}

describe('OutboxDecoder.decode', () => {
  test('turns a transaction of outbox inserts into begin, events and commit', () => {
    const committedAt = Date.UTC(2026, 10, 25, 6, 8, 1);
    const changes = decodeAll([
      relation(16384, 'public', 'outbox'),
      begin(0x1a2b3c4dn, committedAt),
      insert(16384, ROW),
      commit(0x1a2b3c4dn, 0x1a2b3c80n, committedAt),
    ]);
    const [, , decoded] = changes;
    assert.ok(decoded?.kind === 'event');
    // The payload is carried as its bytes (the message body); its text is decoded from them.
    assert.ok(Buffer.isBuffer(decoded.event.payloadBytes));
    assert.equal(decoded.event.payloadBytes.toString(), decoded.event.payload);
    assert.deepEqual(changes.with(2, { kind: 'event', event: eventFields(decoded.event) }), [
      null,
      { kind: 'begin', commitLsn: 0x1a2b3c4dn, commitTimeMs: committedAt },
      {
        kind: 'event',
        event: {
          id: ROW[0],
          aggregateType: 'order',
          aggregateId: 'o-42',
          eventType: 'OrderPlaced',
          payload: '{"total": 12.5, "items": ["a", "b"]}',
          headers: { traceparent: '00-abc-01', retries: '2' },
          createdAt: '2026-11-25T06:08:00.123Z',
          // The columns as PostgreSQL printed them, for the debezium format.
          columns: {
            createdAt: '2026-11-25 06:08:00.123456+00',
            headers: '{"traceparent": "00-abc-01", "retries": 2}',
          },
          // Its transaction's id (from begin): completion waits for it to be visible.
          xid: 7,
          // This fixture's outbox has no seq column; only a sweep reads xmin.
          seq: undefined,
          sweptXmin: undefined,
        },
      },
      { kind: 'commit', endLsn: 0x1a2b3c80n, commitTimeMs: committedAt },
    ]);
  });

  test("keeps the columns' text only when asked (no route's format reads it)", () => {
    const [, event] = decodeAll([relation(16384, 'public', 'outbox'), insert(16384, ROW)], false);
    assert.ok(event?.kind === 'event');
    assert.equal(event.event.columns, undefined);
    assert.equal(event.event.createdAt, '2026-11-25T06:08:00.123Z');
  });

  test('ignores inserts into other tables of the publication', () => {
    const changes = decodeAll([relation(1, 'public', 'orders', ['id', 'note']), insert(1, ['1', 'x'])]);
    assert.deepEqual(changes, [null, null]);
  });

  test('matches the configured schema, not only the table name', () => {
    const changes = decodeAll([relation(2, 'audit', 'outbox'), insert(2, ROW)]);
    assert.deepEqual(changes, [null, null]);
  });

  test('rejects an outbox relation that lacks required columns', () => {
    assert.throws(
      () => decodeAll([relation(3, 'public', 'outbox', ['id', 'payload'])]),
      /lacks the outbox column\(s\) aggregate_type/,
    );
  });
});

describe('OutboxDecoder.decode against another reading of the same bytes', () => {
  test("reads begin, commit and the row as pg-logical-replication's parser does", () => {
    const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: ['p'] });
    const committedAt = Date.UTC(2026, 10, 25, 6, 8, 1, 250);
    const row = [...ROW];
    row[4] = '{"name": "Zoë ✓ 🚀", "big": "' + 'x'.repeat(70_000) + '"}';
    const messages = [
      relation(16384, 'public', 'outbox'),
      begin(0x7edc_ba98_7654_3210n, committedAt),
      insert(16384, row),
      commit(0x7edc_ba98_7654_3210n, 0x7edc_ba98_7654_3300n, committedAt),
    ];
    const theirs = messages.map((message) => plugin.parse(message));
    const [, begun, inserted, committed] = decodeAll(messages);
    assert.ok(theirs[1]!.tag === 'begin' && begun?.kind === 'begin');
    assert.equal(begun.commitLsn, parseLsn(theirs[1].commitLsn!));
    assert.equal(begun.commitTimeMs, Number((theirs[1].commitTime as unknown as bigint) / 1000n));
    assert.ok(theirs[2]!.tag === 'insert' && inserted?.kind === 'event');
    assert.equal(inserted.event.xid, theirs[1].xid);
    assert.equal(inserted.event.payload, theirs[2].new['payload']);
    assert.equal(inserted.event.id, theirs[2].new['id']);
    assert.ok(theirs[3]!.tag === 'commit' && committed?.kind === 'commit');
    assert.equal(committed.endLsn, parseLsn(theirs[3].commitEndLsn!));
  });

  test('reads the columns by name, in whatever order the relation lists them', () => {
    const order = [7, 6, 5, 4, 3, 2, 1, 0];
    const changes = decodeAll([
      relation(
        9,
        'public',
        'outbox',
        order.map((i) => COLUMNS[i]!),
      ),
      insert(
        9,
        order.map((i) => ROW[i]!),
      ),
    ]);
    assert.ok(changes[1]?.kind === 'event');
    assert.equal(changes[1].event.aggregateId, 'o-42');
    assert.equal(changes[1].event.payload, ROW[4]);
  });

  test('passes over messages it does not need: origin, type, update, delete, truncate', () => {
    const other = [
      new Bytes().byte(0x4f).int64(1n).string('upstream').build(),
      new Bytes().byte(0x59).int32(16400).string('public').string('mood').build(),
      new Bytes().byte(0x55).int32(16384).build(),
      new Bytes().byte(0x44).int32(16384).build(),
      new Bytes().byte(0x54).int32(1).byte(0).int32(16384).build(),
    ];
    assert.deepEqual(decodeAll([relation(16384, 'public', 'outbox'), ...other]), [
      null,
      null,
      null,
      null,
      null,
      null,
    ]);
  });
});

describe('parseHeaders', () => {
  test('keeps string values and passes others as JSON text', () => {
    assert.deepEqual(parseHeaders('{"a": "x", "b": 1, "c": {"d": true}, "e": null}'), {
      a: 'x',
      b: '1',
      c: '{"d":true}',
    });
  });
  test('treats a missing or non-object value as no headers', () => {
    assert.deepEqual(parseHeaders(null), {});
    assert.deepEqual(parseHeaders('[1,2]'), {});
  });
});

describe('timestamptzToIso', () => {
  test('converts PostgreSQL text with any offset to UTC ISO 8601', () => {
    assert.equal(timestamptzToIso('2026-11-25 06:08:00+00'), '2026-11-25T06:08:00.000Z');
    assert.equal(timestamptzToIso('2026-11-25 08:08:00.5+02'), '2026-11-25T06:08:00.500Z');
    assert.equal(timestamptzToIso('2026-11-25 11:38:00.123456+05:30'), '2026-11-25T06:08:00.123Z');
  });
  test('rearranges UTC text exactly as parsing it would (fractions truncated to milliseconds)', () => {
    for (const text of [
      '2026-11-25 06:08:00+00',
      '2026-11-25 06:08:00.5+00',
      '2026-11-25 06:08:00.05+00',
      '2026-11-25 06:08:00.123+00',
      '2026-11-25 06:08:00.123999+00',
      '0099-01-01 23:59:59.999999+00',
    ]) {
      const parsed = new Date(Date.parse(text.replace(' ', 'T').replace(/\+00$/, 'Z'))).toISOString();
      assert.equal(timestamptzToIso(text), parsed, text);
    }
  });
  test('passes text that is not an ordinary timestamp through', () => {
    assert.equal(timestamptzToIso('infinity'), 'infinity');
  });
});

describe('parseLsn', () => {
  test('reads the two hexadecimal halves', () => {
    assert.equal(parseLsn('16/B374D848'), (0x16n << 32n) | 0xb374d848n);
  });
});

describe('rowToEvent', () => {
  test("reads the row's seq, and the xmin a sweep adds (exactly-once skips covered rows by them)", () => {
    const row = {
      id: 'e1',
      aggregate_type: 'order',
      aggregate_id: 'o-1',
      event_type: 'E',
      payload: '{}',
      headers: '{}',
      created_at: '2026-11-25 06:08:00.123456+00',
      seq: '12345',
      [SWEPT_XMIN_COLUMN]: '987',
    };
    const event = rowToEvent(row);
    assert.equal(event.seq, 12_345);
    assert.equal(event.sweptXmin, 987);
    assert.equal(event.xid, undefined, 'completion does not wait on a swept row');
  });
});

/** An event's fields as a plain object, its payload as text (decoded events are objects of a class). */
function eventFields(event: OutboxEvent): OutboxEvent {
  const { id, aggregateType, aggregateId, eventType, payload, headers, createdAt, columns, xid, seq } = event;
  return {
    id,
    aggregateType,
    aggregateId,
    eventType,
    payload,
    headers,
    createdAt,
    columns,
    xid,
    seq,
    sweptXmin: event.sweptXmin,
  };
}
