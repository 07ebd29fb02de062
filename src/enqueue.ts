// The application side: write events into the outbox inside the transaction that changes the
// business data, so both commit or neither does. Events are validated before any SQL runs, so a bad
// event fails with a message naming its field instead of a PostgreSQL error mid-transaction.
import { insertOutboxRows } from './db/enqueue-sql.js';
import type { OutboxRow } from './db/enqueue-sql.js';
import { outbox } from './schema.js';

/**
 * The shape every application event has. Declare your events as a union of these, discriminated by
 * `eventType` (and `aggregateType`), and pass the union to {@link defineEvents} or {@link enqueue}:
 *
 * ```ts
 * type ShopEvent =
 *   | { aggregateType: 'order'; eventType: 'OrderPlaced'; payload: { orderId: number; totalCents: number } }
 *   | { aggregateType: 'order'; eventType: 'OrderCancelled'; payload: { orderId: number; reason: string } };
 * ```
 */
export interface EventShape {
  readonly aggregateType: string;
  readonly eventType: string;
  readonly payload: unknown;
}

/**
 * One event as the application hands it to {@link enqueue}: for each member of the union `E`, its
 * aggregate type, event type and payload, plus the aggregate's id and optional headers and event id.
 * With the default `E` any strings and any JSON-serialisable payload are accepted.
 */
export type OutboxEventInput<E extends EventShape = EventShape> = E extends EventShape
  ? {
      /** What routes the event (e.g. `order`); non-empty. */
      readonly aggregateType: E['aggregateType'];
      /** The message key: events of one aggregate keep their commit order. Non-empty. */
      readonly aggregateId: string;
      /** E.g. `OrderPlaced`; non-empty. */
      readonly eventType: E['eventType'];
      /** The message body, stored as jsonb and published as JSON. */
      readonly payload: E['payload'];
      /**
       * Extra message headers (e.g. `traceparent`), passed through to every broker. Values must be
       * strings; the names the relay sets itself (`id`, `aggregate_type`, ...) are reserved.
       */
      readonly headers?: Readonly<Record<string, string>>;
      /** The event id (a UUID): the consumers' dedup key. Defaults to a random UUID. */
      readonly id?: string;
    }
  : never;

/**
 * Where {@link enqueue} writes: a drizzle transaction (or database), or a `pg` client (or pool)
 * already inside `BEGIN`. Typed by shape, so neither library's types are required.
 */
export type OutboxExecutor =
  | { insert: (table: typeof outbox) => { values: (rows: never[]) => unknown } }
  | { query: (text: string, values?: unknown[]) => Promise<{ rows: unknown[] }> };

/**
 * An event {@link enqueue} refused before writing anything. `field` names what is wrong, as a path
 * into the event (`aggregateId`, `headers.traceparent`), and `index` which event of an
 * {@link enqueueMany} call.
 */
export class OutboxEventError extends Error {
  override name = 'OutboxEventError';

  constructor(
    /** A path into the event, e.g. `headers.traceparent`; empty when the event itself is wrong. */
    readonly field: string,
    readonly index: number | undefined,
    problem: string,
  ) {
    const event = index === undefined ? 'event' : `events[${index}]`;
    const path = field === '' ? event : index === undefined ? field : `${event}.${field}`;
    super(`${path} ${problem}`);
  }
}

/**
 * Typed `enqueue` and `enqueueMany` for an application's event union, declared once:
 *
 * ```ts
 * const shop = defineEvents<ShopEvent>();
 * await db.transaction(async (tx) => {
 *   const [order] = await tx.insert(orders).values(...).returning();
 *   await shop.enqueue(tx, {
 *     aggregateType: 'order',
 *     aggregateId: String(order.id),
 *     eventType: 'OrderPlaced',
 *     payload: { orderId: order.id, totalCents: order.totalCents }, // checked against OrderPlaced
 *   });
 * });
 * ```
 */
export function defineEvents<E extends EventShape>(): {
  enqueue: (tx: OutboxExecutor, event: OutboxEventInput<E>) => Promise<string>;
  enqueueMany: (tx: OutboxExecutor, events: readonly OutboxEventInput<E>[]) => Promise<string[]>;
} {
  return {
    enqueue: (tx, event) => enqueue<E>(tx, event),
    enqueueMany: (tx, events) => enqueueMany<E>(tx, events),
  };
}

/**
 * Inserts one event into the outbox through `tx`, which must be the transaction that writes the
 * business change. Returns the event id. Throws {@link OutboxEventError} for an invalid event, before
 * touching the database. `E` (optional) is the application's event union: see {@link defineEvents}.
 */
export async function enqueue<E extends EventShape = EventShape>(
  tx: OutboxExecutor,
  event: NoInfer<OutboxEventInput<E>>,
): Promise<string> {
  const row = validateEvent(event, undefined);
  const [id] = await insertRows(tx, [row]);
  return id!;
}

/**
 * Inserts several events in one statement, in the given order (the order they are published in for
 * one aggregate), through `tx`. Returns their ids in the same order. Throws {@link OutboxEventError}
 * naming the first invalid event and field, before touching the database.
 */
export async function enqueueMany<E extends EventShape = EventShape>(
  tx: OutboxExecutor,
  events: readonly NoInfer<OutboxEventInput<E>>[],
): Promise<string[]> {
  if (events.length === 0) return [];
  return insertRows(
    tx,
    events.map((event, index) => validateEvent(event, index)),
  );
}

async function insertRows(tx: OutboxExecutor, rows: OutboxRow[]): Promise<string[]> {
  // Drizzle's transactions have a `query` property too (relational queries): test for `insert` first.
  if (!('insert' in tx)) {
    const { text, values } = insertOutboxRows(rows);
    const result = await tx.query(text, [...values]);
    return (result.rows as { id: string }[]).map((row) => row.id);
  }
  const insert = tx.insert(outbox).values(rows as never[]) as {
    returning: (fields: { id: typeof outbox.id }) => Promise<{ id: string }[]>;
  };
  const inserted = await insert.returning({ id: outbox.id });
  return inserted.map((row) => row.id);
}

/** Header names the relay sets on every message; a row's own header would be overwritten. */
export const RESERVED_HEADERS: readonly string[] = [
  'id',
  'aggregate_type',
  'aggregate_id',
  'event_type',
  'created_at',
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// PostgreSQL text and jsonb cannot hold U+0000; caught here rather than as a driver error.
const NUL = '\u0000';
const ESCAPED_NUL = '\\u0000';

/**
 * Checks one event and returns the row to insert. Pure; exported for the unit tests.
 * @internal
 */
export function validateEvent(event: unknown, index: number | undefined): OutboxRow {
  function fail(field: string, problem: string): never {
    throw new OutboxEventError(field, index, problem);
  }
  if (typeof event !== 'object' || event === null) return fail('', 'must be an object');
  const e = event as Record<string, unknown>;
  for (const field of ['aggregateType', 'aggregateId', 'eventType'] as const) {
    const value = e[field];
    if (typeof value !== 'string' || value === '') fail(field, 'must be a non-empty string');
    if (value.includes(NUL)) fail(field, 'must not contain a NUL character');
  }
  if (e['id'] !== undefined && (typeof e['id'] !== 'string' || !UUID.test(e['id'])))
    fail('id', 'must be a UUID (or left out for a random one)');

  let json: string | undefined;
  try {
    json = JSON.stringify(e['payload']);
  } catch (error) {
    fail('payload', `is not JSON-serialisable: ${(error as Error).message}`);
  }
  if (json === undefined)
    fail('payload', `is not JSON-serialisable: ${kindOf(e['payload'])} has no JSON form`);
  if (json.includes(ESCAPED_NUL)) fail('payload', 'must not contain a NUL character (jsonb cannot store it)');

  const headers = e['headers'] ?? {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers))
    fail('headers', 'must be an object of string values');
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (typeof value !== 'string') fail(`headers.${name}`, `must be a string, not ${kindOf(value)}`);
    if (RESERVED_HEADERS.includes(name))
      fail(`headers.${name}`, `is reserved: the relay sets ${RESERVED_HEADERS.join(', ')} itself`);
    if (name.includes(NUL) || value.includes(NUL))
      fail(`headers.${name}`, 'must not contain a NUL character');
  }
  return {
    ...(e['id'] === undefined ? {} : { id: e['id'] }),
    aggregateType: e['aggregateType'] as string,
    aggregateId: e['aggregateId'] as string,
    eventType: e['eventType'] as string,
    payload: e['payload'],
    headers: headers as Record<string, string>,
  };
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
