// pgoutput messages (protocol version 1, as PostgreSQL sends them) -> WalChange. No I/O.
//
// The relay reads the few messages it needs straight from the bytes (begin, commit, relation, insert
// into the outbox; everything else is passed over without being read): pg-logical-replication's
// parser builds an object per message and decodes every column of every row, ~10 % of the relay's
// CPU, for tuples it mostly drops. Column values of the outbox relation are kept as the text
// PostgreSQL sent, the payload as its bytes (copied: the driver reuses its read buffer): it becomes
// the message body byte for byte, and stays off the V8 heap while the event is in flight. The row's
// timestamp is converted here rather than by pg's global type parsers (which the application may
// have changed).
// https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
import type { OutboxEvent, WalChange } from './event.js';
import { lastOf, RepeatedText } from './repeated-text.js';

export interface TableName {
  readonly schema: string;
  readonly name: string;
}

const REQUIRED_COLUMNS = ['id', 'aggregate_type', 'aggregate_id', 'event_type', 'payload'] as const;
/** The columns an event is made of (rowToEvent); the others are not decoded. */
const EVENT_COLUMNS = new Set<string>([...REQUIRED_COLUMNS, 'headers', 'created_at', 'seq']);
/** Columns whose text is usually the previous row's (RepeatedText). */
const REPEATING_COLUMNS = ['aggregate_type', 'event_type', 'headers', 'created_at'];
/** PostgreSQL's epoch (2000-01-01) in Unix microseconds. */
const POSTGRES_EPOCH_MICROS = 946_684_800_000_000n;

/** An event column of the outbox relation, and its reader when its text usually repeats. */
interface EventColumn {
  readonly name: string;
  readonly repeated: RepeatedText | undefined;
}

export class OutboxDecoder {
  /** Relation id -> the event column each of its columns holds (undefined: not read). */
  private readonly outboxRelations = new Map<number, (EventColumn | undefined)[]>();
  /** The transaction being decoded: its inserts carry its id. */
  private xid: number | undefined;
  /** The columns whose text usually repeats from row to row, decoded once while it does. */
  private readonly repeated = new Map<string, RepeatedText>(
    REPEATING_COLUMNS.map((column) => [column, new RepeatedText()]),
  );
  private readonly conversions: ColumnConversions = {
    time: lastOf(timestamptzToIso),
    headers: lastOf(parseHeaders),
  };

  /** `keepColumnText`: see rowToEvent (true when a route's format reads the columns' text). */
  constructor(
    private readonly table: TableName,
    private readonly keepColumnText = true,
  ) {}

  /** Returns the change a pgoutput message means to the relay, or null for messages it ignores. */
  decode(message: Buffer): WalChange | null {
    switch (message[0]) {
      case 0x42: // B: final LSN, commit time, xid
        this.xid = message.readInt32BE(17);
        return {
          kind: 'begin',
          commitLsn: message.readBigUInt64BE(1),
          commitTimeMs: microsToMillis(message.readBigUInt64BE(9)),
        };
      case 0x43: // C: flags, commit LSN, end LSN, commit time
        return {
          kind: 'commit',
          endLsn: message.readBigUInt64BE(10),
          commitTimeMs: microsToMillis(message.readBigUInt64BE(18)),
        };
      case 0x52: // R
        this.onRelation(message);
        return null;
      case 0x49: {
        // I: relation id, 'N', the new tuple
        const columns = this.outboxRelations.get(message.readInt32BE(1));
        if (!columns) return null;
        return {
          kind: 'event',
          event: rowToEvent(readRow(message, 6, columns), this.xid, this.keepColumnText, this.conversions),
        };
      }
      default:
        // The publication is insert-only; anything else (another table, a truncate, a logical
        // message, an origin or a type) is not ours.
        return null;
    }
  }

  private onRelation(message: Buffer): void {
    const relationId = message.readInt32BE(1);
    const reader = { offset: 5 };
    const schema = readCString(message, reader);
    const name = readCString(message, reader);
    if (schema !== this.table.schema || name !== this.table.name) {
      this.outboxRelations.delete(relationId);
      return;
    }
    reader.offset += 1; // replica identity
    const count = message.readInt16BE(reader.offset);
    reader.offset += 2;
    const names: string[] = [];
    for (let i = 0; i < count; i++) {
      reader.offset += 1; // flags
      names.push(readCString(message, reader));
      reader.offset += 8; // type oid, type modifier
    }
    const missing = REQUIRED_COLUMNS.filter((column) => !names.includes(column));
    if (missing.length > 0) {
      throw new Error(`table ${schema}.${name} lacks the outbox column(s) ${missing.join(', ')}`);
    }
    // Each column's reader resolved here, once per relation, rather than looked up per row.
    this.outboxRelations.set(
      relationId,
      names.map((column) =>
        EVENT_COLUMNS.has(column) ? { name: column, repeated: this.repeated.get(column) } : undefined,
      ),
    );
  }
}

function readCString(message: Buffer, reader: { offset: number }): string {
  const end = message.indexOf(0, reader.offset);
  if (end < 0) throw new Error('pgoutput: unterminated string');
  const text = message.toString('utf8', reader.offset, end);
  reader.offset = end + 1;
  return text;
}

/** The event columns of a tuple (TupleData at `offset`) as PostgreSQL printed them; null if null. */
function readRow(
  message: Buffer,
  offset: number,
  columns: readonly (EventColumn | undefined)[],
): Record<string, unknown> {
  // One shape for every row (V8 keeps it fast); absent columns stay null.
  const row: Record<string, unknown> = {
    id: null,
    aggregate_type: null,
    aggregate_id: null,
    event_type: null,
    payload: null,
    headers: null,
    created_at: null,
    seq: null,
  };
  const count = message.readInt16BE(offset);
  let at = offset + 2;
  for (let i = 0; i < count; i++) {
    const kind = message[at++];
    if (kind === 0x6e || kind === 0x75) continue; // n: null; u: unchanged TOAST (never in an insert)
    if (kind !== 0x74) throw new Error(`pgoutput: unexpected column kind ${String(kind)}`); // t: text
    const length = message.readInt32BE(at);
    at += 4;
    const column = columns[i];
    if (column?.name === 'payload') row.payload = copyBytes(message, at, length);
    else if (column)
      row[column.name] = column.repeated
        ? column.repeated.read(message, at, length)
        : message.toString('utf8', at, at + length);
    at += length;
  }
  return row;
}

function copyBytes(message: Buffer, at: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  message.copy(bytes, 0, at, at + length);
  return bytes;
}

/** The column a sweep adds to each row it reads: the row's xmin (db/slot-sql.ts). */
export const SWEPT_XMIN_COLUMN = 'outbox_relay_xmin';

/** How rowToEvent turns column text into event fields (the decoder remembers the last of each). */
interface ColumnConversions {
  readonly time: (text: string) => string;
  readonly headers: (text: string) => Readonly<Record<string, string>>;
}

const DIRECT_CONVERSIONS: ColumnConversions = { time: timestamptzToIso, headers: parseHeaders };

/**
 * An outbox row as an event. `keepColumnText`: also keep created_at and headers as PostgreSQL printed
 * them (event.columns), which only some formats read; otherwise that text is not held in flight.
 * The payload is the row's text (a sweep's row) or bytes (a row decoded from the WAL).
 */
export function rowToEvent(
  row: Record<string, unknown>,
  xid?: number,
  keepColumnText = true,
  convert: ColumnConversions = DIRECT_CONVERSIONS,
): OutboxEvent {
  const createdAt = row['created_at'];
  const headers = row['headers'];
  const seq = row['seq'];
  const xmin = row[SWEPT_XMIN_COLUMN];
  const payload = row['payload'];
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload))
    throw new Error('outbox column payload is null');
  return new RowEvent(
    xid,
    typeof seq === 'string' ? Number(seq) : undefined,
    typeof xmin === 'string' ? Number(xmin) : undefined,
    requireText(row, 'id'),
    requireText(row, 'aggregate_type'),
    requireText(row, 'aggregate_id'),
    requireText(row, 'event_type'),
    payload,
    typeof headers === 'string' ? convert.headers(headers) : {},
    typeof createdAt === 'string' ? convert.time(createdAt) : '',
    keepColumnText && typeof createdAt === 'string' && typeof headers === 'string'
      ? { createdAt, headers }
      : undefined,
  );
}

/** An event read from a row: one class, so every event has one shape; the text decoded when read. */
class RowEvent implements OutboxEvent {
  private payloadText: string | undefined;
  readonly payloadBytes: Buffer | undefined;

  constructor(
    readonly xid: number | undefined,
    readonly seq: number | undefined,
    readonly sweptXmin: number | undefined,
    readonly id: string,
    readonly aggregateType: string,
    readonly aggregateId: string,
    readonly eventType: string,
    payload: string | Buffer,
    readonly headers: Readonly<Record<string, string>>,
    readonly createdAt: string,
    readonly columns: { readonly createdAt: string; readonly headers: string } | undefined,
  ) {
    this.payloadText = typeof payload === 'string' ? payload : undefined;
    this.payloadBytes = typeof payload === 'string' ? undefined : payload;
  }

  get payload(): string {
    return (this.payloadText ??= this.payloadBytes!.toString('utf8'));
  }
}

function requireText(row: Record<string, unknown>, column: string): string {
  const value = row[column];
  if (typeof value !== 'string') throw new Error(`outbox column ${column} is null`);
  return value;
}

/** The row's `headers` jsonb; values that are not strings are passed on as their JSON text. */
export function parseHeaders(raw: unknown): Record<string, string> {
  if (typeof raw !== 'string' || raw === '{}') return {};
  const parsed: unknown = JSON.parse(raw);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
  const headers: Record<string, string> = {};
  const fields = parsed as Record<string, unknown>;
  for (const key in fields) {
    const value = fields[key];
    if (value === null || value === undefined) continue;
    headers[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return headers;
}

// PostgreSQL's text form, e.g. "2026-11-25 06:08:00.123456+00" or "...+05:30".
const TIMESTAMPTZ =
  /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2})(?::(\d{2}))?(?::(\d{2}))?$/;

// The common case, a server whose TimeZone is UTC: the ISO form is a rearrangement of the text
// (fractions truncated to milliseconds, as Date.parse does), eight times cheaper than parsing.
const UTC_TIMESTAMPTZ = /^(\d{4}-[01]\d-[0-3]\d) ([0-2]\d:[0-5]\d:[0-5]\d)(?:\.(\d{1,6}))?\+00$/;

/** ISO 8601 in UTC with milliseconds; text that is not an ordinary timestamp passes unchanged. */
export function timestamptzToIso(text: string): string {
  const utc = UTC_TIMESTAMPTZ.exec(text);
  if (utc) {
    const fraction = utc[3] ?? '';
    const millis = fraction.length >= 3 ? fraction.slice(0, 3) : fraction.padEnd(3, '0');
    // join() builds one flat string; `+` or a template would keep a tree of pieces alive with the event.
    return [utc[1], 'T', utc[2], '.', millis, 'Z'].join('');
  }
  const match = TIMESTAMPTZ.exec(text);
  if (!match) return text;
  const [, date, time, offsetHours, offsetMinutes = '00', offsetSeconds] = match;
  if (offsetSeconds !== undefined && offsetSeconds !== '00') return text;
  const millis = Date.parse(`${date}T${time}${offsetHours}:${offsetMinutes}`);
  return Number.isNaN(millis) ? text : new Date(millis).toISOString();
}

function microsToMillis(postgresMicros: bigint): number {
  return Number((postgresMicros + POSTGRES_EPOCH_MICROS) / 1000n);
}
