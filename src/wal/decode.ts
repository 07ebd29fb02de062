// pgoutput messages (as parsed by pg-logical-replication) -> WalChange. No I/O.
//
// Column values of the outbox relation are kept as the text PostgreSQL sent: the payload becomes the
// message body byte for byte, and the row's timestamp is converted here rather than by pg's global
// type parsers (which the application embedding the relay may have changed).
import type { Pgoutput } from 'pg-logical-replication';
import type { OutboxEvent, WalChange } from './event.js';
import { parseLsn } from './lsn.js';

export interface TableName {
  readonly schema: string;
  readonly name: string;
}

const REQUIRED_COLUMNS = ['id', 'aggregate_type', 'aggregate_id', 'event_type', 'payload'] as const;
const keepText = (raw: unknown): unknown => raw;

export class OutboxDecoder {
  private readonly outboxRelations = new Set<number>();
  /** The transaction being decoded: its inserts carry its id. */
  private xid: number | undefined;

  /** `keepColumnText`: see rowToEvent (true when a route's format reads the columns' text). */
  constructor(
    private readonly table: TableName,
    private readonly keepColumnText = true,
  ) {}

  /** Returns the change a message means to the relay, or null for messages it ignores. */
  decode(message: Pgoutput.Message): WalChange | null {
    switch (message.tag) {
      case 'begin':
        this.xid = message.xid;
        return {
          kind: 'begin',
          commitLsn: parseLsn(message.commitLsn ?? '0/0'),
          commitTimeMs: microsToMillis(message.commitTime),
        };
      case 'commit':
        return {
          kind: 'commit',
          endLsn: parseLsn(message.commitEndLsn ?? '0/0'),
          commitTimeMs: microsToMillis(message.commitTime),
        };
      case 'relation':
        this.onRelation(message);
        return null;
      case 'insert':
        if (!this.outboxRelations.has(message.relation.relationOid)) return null;
        return { kind: 'event', event: rowToEvent(message.new, this.xid, this.keepColumnText) };
      default:
        // The publication is insert-only; anything else (another table, a truncate) is not ours.
        return null;
    }
  }

  private onRelation(relation: Pgoutput.MessageRelation): void {
    if (relation.schema !== this.table.schema || relation.name !== this.table.name) {
      this.outboxRelations.delete(relation.relationOid);
      return;
    }
    const names = new Set(relation.columns.map((column) => column.name));
    const missing = REQUIRED_COLUMNS.filter((column) => !names.has(column));
    if (missing.length > 0) {
      throw new Error(
        `table ${relation.schema}.${relation.name} lacks the outbox column(s) ${missing.join(', ')}`,
      );
    }
    // Inserts are parsed with the relation's column parsers right after this message is handled.
    for (const column of relation.columns) column.parser = keepText;
    this.outboxRelations.add(relation.relationOid);
  }
}

/** The column a sweep adds to each row it reads: the row's xmin (db/slot-sql.ts). */
export const SWEPT_XMIN_COLUMN = 'outbox_relay_xmin';

/**
 * An outbox row as an event. `keepColumnText`: also keep created_at and headers as PostgreSQL printed
 * them (event.columns), which only some formats read; otherwise that text is not held in flight.
 */
export function rowToEvent(row: Record<string, unknown>, xid?: number, keepColumnText = true): OutboxEvent {
  const createdAt = row['created_at'];
  const headers = row['headers'];
  const seq = row['seq'];
  const xmin = row[SWEPT_XMIN_COLUMN];
  return {
    xid,
    seq: typeof seq === 'string' ? Number(seq) : undefined,
    sweptXmin: typeof xmin === 'string' ? Number(xmin) : undefined,
    id: requireText(row, 'id'),
    aggregateType: requireText(row, 'aggregate_type'),
    aggregateId: requireText(row, 'aggregate_id'),
    eventType: requireText(row, 'event_type'),
    payload: requireText(row, 'payload'),
    headers: parseHeaders(headers),
    createdAt: typeof createdAt === 'string' ? timestamptzToIso(createdAt) : '',
    // Always present, so that every event has one shape.
    columns:
      keepColumnText && typeof createdAt === 'string' && typeof headers === 'string'
        ? { createdAt, headers }
        : undefined,
  };
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
  for (const [key, value] of Object.entries(parsed)) {
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

function microsToMillis(micros: unknown): number {
  return typeof micros === 'bigint' ? Number(micros / 1000n) : Number(micros) / 1000;
}
