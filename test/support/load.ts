// Load for the reliability tests: writers that commit outbox events in batches, and a consumer that
// counts what reached Kafka per key.
//
// Each writer owns its aggregates and commits one transaction at a time, so the `seq` it writes into
// each payload is that aggregate's commit order. A writer survives a database outage: it retries, and
// when a COMMIT's outcome is unknown (the connection died during it) it looks its batch up in
// `load_commits`, written in the same transaction, to know whether the events exist.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { TopicReader } from './kafka.js';
import { waitFor, withinMs } from '../kit/wait.js';

export interface LoadOptions {
  readonly aggregateType: string;
  readonly writers?: number;
  readonly aggregatesPerWriter?: number;
  readonly minBatch?: number;
  readonly maxBatch?: number;
  /** Upper bound on the committed events per second, all writers together; unlimited if absent. */
  readonly eventsPerSecond?: number;
  /** Writers stop after this many events in total (they may overshoot by one batch each). */
  readonly maxEvents?: number;
}

export class OutboxLoad {
  /** Events committed per aggregate id: that aggregate's seqs are 0..n-1. */
  readonly committedByAggregate = new Map<string, number>();
  committed = 0;
  /** Writes that failed (database down) and were retried. */
  retries = 0;
  private stopping = false;
  private readonly started = Date.now();
  private readonly writers: Promise<void>[];

  private constructor(
    private readonly url: string,
    private readonly options: Required<Omit<LoadOptions, 'eventsPerSecond' | 'maxEvents'>> & LoadOptions,
  ) {
    this.writers = Array.from({ length: options.writers }, (_, writer) => this.write(writer));
  }

  static async start(url: string, options: LoadOptions): Promise<OutboxLoad> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('create table if not exists load_commits (batch uuid primary key)');
    await client.end();
    return new OutboxLoad(url, {
      writers: 4,
      aggregatesPerWriter: 25,
      minBatch: 50,
      maxBatch: 200,
      ...options,
    });
  }

  /** Stops the writers after their current transaction. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.writers);
  }

  async waitForCommitted(count: number, timeoutMs = 120_000): Promise<void> {
    await waitFor(`${count} events committed (have ${this.committed})`, () => this.committed >= count, {
      timeoutMs,
    });
  }

  private async write(writer: number): Promise<void> {
    const { aggregateType, aggregatesPerWriter, minBatch, maxBatch, eventsPerSecond, maxEvents } =
      this.options;
    const aggregates = Array.from({ length: aggregatesPerWriter }, (_, i) => `w${writer}-a${i}`);
    let client: pg.Client | undefined;
    for (let failures = 0; !this.stopping && (maxEvents === undefined || this.committed < maxEvents);) {
      if (eventsPerSecond !== undefined) {
        const aheadMs = (this.committed / eventsPerSecond) * 1000 - (Date.now() - this.started);
        if (aheadMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(aheadMs, 200)));
        if (aheadMs > 0) continue;
      }
      const size = minBatch + Math.floor(Math.random() * (maxBatch - minBatch + 1));
      const next = new Map<string, number>();
      const ids: string[] = [];
      const payloads: string[] = [];
      for (let i = 0; i < size; i++) {
        const aggregate = aggregates[Math.floor(Math.random() * aggregates.length)]!;
        const seq = next.get(aggregate) ?? this.committedByAggregate.get(aggregate) ?? 0;
        next.set(aggregate, seq + 1);
        ids.push(aggregate);
        payloads.push(JSON.stringify({ seq, aggregate, pad: 'x'.repeat(120) }));
      }
      const batch = randomUUID();
      try {
        client ??= await connect(this.url);
        await client.query('begin');
        await client.query('insert into load_commits (batch) values ($1)', [batch]);
        await client.query(
          `insert into outbox (aggregate_type, aggregate_id, event_type, payload)
           select $1, a, 'Step', p from unnest($2::text[], $3::jsonb[]) as t(a, p)`,
          [aggregateType, ids, payloads],
        );
        await client.query('commit');
      } catch {
        client?.end().catch(() => undefined);
        client = undefined;
        this.retries += 1;
        failures += 1;
        if (!(await this.committedAnyway(batch))) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * failures)));
          continue;
        }
      }
      failures = 0;
      for (const [aggregate, seq] of next) this.committedByAggregate.set(aggregate, seq);
      this.committed += size;
    }
    await client?.end().catch(() => undefined);
  }

  /** After a failed write: did its COMMIT happen? Asks until the database answers. */
  private async committedAnyway(batch: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        const client = await connect(this.url);
        try {
          const { rowCount } = await client.query('select 1 from load_commits where batch = $1', [batch]);
          return rowCount === 1;
        } finally {
          await client.end();
        }
      } catch {
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * attempt)));
      }
    }
  }
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

/**
 * Checks, per key, that first deliveries come in seq order, and deduplicates by the `id` header,
 * counting the duplicates. Fed by a Kafka topic (start) or by readers of other brokers
 * (test/support/rabbitmq.ts).
 */
export class EventCounter {
  duplicates = 0;
  /** First deliveries whose seq was not the next one of their key. */
  readonly orderViolations: string[] = [];
  private readonly seen = new Set<string>();
  private readonly nextSeq = new Map<string, number>();

  /**
   * `close` ends the reader that feeds this counter; `describe` says where that reader stands
   * (for the message of a failed wait).
   */
  constructor(
    private readonly close: () => Promise<void>,
    private readonly describe: () => Promise<string> = () => Promise.resolve('no reader details'),
  ) {}

  /** Where the reader feeding this counter stands (its position, queue, restarts or reconnections). */
  readerState(): Promise<string> {
    return withinMs(10_000, this.describe()).catch((error: Error) => `reader: ${error.message}`);
  }

  /** Counts a topic's messages from the beginning (a reader that detects and reports its own stalls). */
  static async start(topic: string): Promise<EventCounter> {
    const reader = await TopicReader.start([topic], (message) =>
      counter.count(message.headers['id'] ?? '', message.key, message.value || '{}'),
    );
    const counter: EventCounter = new EventCounter(
      () => reader.stop(),
      () => reader.describe(),
    );
    return counter;
  }

  /** Distinct events delivered. */
  get delivered(): number {
    return this.seen.size;
  }

  /** The ids of the events delivered so far. */
  deliveredIds(): string[] {
    return [...this.seen];
  }

  /** Total messages received, duplicates included. */
  get received(): number {
    return this.seen.size + this.duplicates;
  }

  /**
   * Waits until every event the load committed was delivered. On timeout the error says what the
   * reader, the broker and (through `context`, e.g. deliveryContext) the relay and table each say.
   */
  async waitForAll(
    load: OutboxLoad,
    timeoutMs = 120_000,
    context: () => Promise<string> = () => Promise.resolve(''),
  ): Promise<void> {
    try {
      await waitFor(
        `all ${load.committed} committed events delivered`,
        () => this.delivered >= load.committed,
        {
          timeoutMs,
          intervalMs: 200,
        },
      );
    } catch (error) {
      const details = [
        `have ${this.delivered} distinct (${this.received} received)`,
        await this.readerState(),
        await withinMs(10_000, context()).catch((cause: Error) => `context: ${cause.message}`),
      ];
      throw new Error(`${(error as Error).message}; ${details.filter(Boolean).join('; ')}`, { cause: error });
    }
  }

  /** Aggregates whose delivered events differ from the committed ones, as readable lines. */
  missing(load: OutboxLoad): string[] {
    const problems: string[] = [];
    for (const [aggregate, committed] of load.committedByAggregate) {
      const delivered = this.nextSeq.get(aggregate) ?? 0;
      if (delivered !== committed)
        problems.push(`${aggregate}: committed ${committed}, delivered ${delivered}`);
    }
    return problems;
  }

  async stop(): Promise<void> {
    await this.close();
  }

  /** One message received: its event id, key (aggregate id) and payload. */
  count(id: string, key: string, value: string): void {
    if (this.seen.has(id)) {
      this.duplicates += 1;
      return;
    }
    this.seen.add(id);
    const { seq } = JSON.parse(value) as { seq: number };
    const expected = this.nextSeq.get(key) ?? 0;
    if (seq !== expected) this.orderViolations.push(`${key}: got seq ${seq}, expected ${expected}`);
    this.nextSeq.set(key, Math.max(expected, seq + 1));
  }
}
