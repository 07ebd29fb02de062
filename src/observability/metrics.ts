// Prometheus metrics on a registry of the relay's own (never the global default), so an application
// embedding the relay keeps its metrics apart.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface RelayMetrics {
  /** A destination confirmed an event, written in `format`. */
  published(sink: string, destination: string, format: string): void;
  deadLettered(reason: string): void;
  publishError(sink: string): void;
  endToEnd(seconds: number): void;
  setLeader(leader: boolean): void;
  setReplicationLagBytes(bytes: number): void;
  /** The slot was invalidated (`reason`: wal_removed, rows_removed, idle_timeout, ...) and recreated. */
  slotRecreated(reason: string): void;
}

export interface PrometheusMetrics extends RelayMetrics {
  readonly registry: Registry;
  /** Sets a 1/0 gauge a part of the relay reports about itself (created at first use). */
  setFlag(name: string, help: string, value: boolean): void;
}

/** Buckets of the end-to-end histogram: 1 ms to 60 s. */
export const END_TO_END_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

export interface MetricSources {
  /** Read at scrape time: the age of the oldest committed event not yet confirmed. */
  readonly lagSeconds: () => number;
  /** Read at scrape time: events dispatched to the sinks and not yet completed. */
  readonly inFlightEvents: () => number;
  /** The sinks the routes use: their error counters start at 0, so rate() sees the first error. */
  readonly sinks: Iterable<string>;
}

export function createMetrics({ lagSeconds, inFlightEvents, sinks }: MetricSources): PrometheusMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Counted per event in plain maps and added to the counters when they are read: prom-client
  // builds a label object and a key string for every inc(), measurable at tens of thousands a second.
  const publishedCounts = new LabelCounts();
  const byFormatCounts = new LabelCounts();
  new Counter({
    name: 'outbox_relay_events_published_total',
    help: 'Events confirmed by a broker.',
    labelNames: ['sink', 'destination'] as const,
    registers: [registry],
    collect() {
      publishedCounts.drain((sink, destination, count) => this.inc({ sink, destination }, count));
    },
  });
  new Counter({
    name: 'outbox_relay_events_published_by_format_total',
    help: 'Events confirmed by a broker, by the message format they were written in.',
    labelNames: ['format'] as const,
    registers: [registry],
    collect() {
      byFormatCounts.drain((format, _, count) => this.inc({ format }, count));
    },
  });
  const deadLettered = new Counter({
    name: 'outbox_relay_events_dead_lettered_total',
    help: 'Events parked in the dead-letter table.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const slotInvalidations = new Counter({
    name: 'outbox_relay_slot_invalidations_total',
    help: 'Replication slots found invalidated and recreated (the table swept).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const publishErrors = new Counter({
    name: 'outbox_relay_publish_errors_total',
    help: 'Failed publish attempts (each retry counts).',
    labelNames: ['sink'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'outbox_relay_lag_seconds',
    help: 'Age of the oldest committed event not yet confirmed by its broker; 0 when caught up.',
    registers: [registry],
    collect() {
      this.set(lagSeconds());
    },
  });
  new Gauge({
    name: 'outbox_relay_in_flight_events',
    help: 'Events read from the WAL and not yet completed; the stream pauses at OUTBOX_MAX_IN_FLIGHT.',
    registers: [registry],
    collect() {
      this.set(inFlightEvents());
    },
  });
  const replicationLag = new Gauge({
    name: 'outbox_relay_replication_lag_bytes',
    help: "WAL bytes between the server's current LSN and the slot's confirmed LSN.",
    registers: [registry],
  });
  // Observed once per event: through its label-less child, which prom-client builds once (observe()
  // on the histogram itself builds a closure each time).
  const endToEnd = new Histogram({
    name: 'outbox_relay_end_to_end_seconds',
    help: 'Time from the commit in PostgreSQL to the broker confirmation.',
    buckets: END_TO_END_BUCKETS,
    registers: [registry],
  }).labels();
  const leader = new Gauge({
    name: 'outbox_relay_leader',
    help: '1 on the instance holding the replication slot.',
    registers: [registry],
  });
  leader.set(0);
  replicationLag.set(0);
  for (const sink of sinks) publishErrors.inc({ sink }, 0);

  return {
    registry,
    published: (sink, destination, format) => {
      publishedCounts.add(sink, destination);
      byFormatCounts.add(format, '');
    },
    deadLettered: (reason) => deadLettered.inc({ reason }),
    publishError: (sink) => publishErrors.inc({ sink }),
    endToEnd: (seconds) => endToEnd.observe(seconds),
    setLeader: (isLeader) => leader.set(isLeader ? 1 : 0),
    setReplicationLagBytes: (bytes) => replicationLag.set(bytes),
    slotRecreated: (reason) => slotInvalidations.inc({ reason }),
    setFlag(name, help, value) {
      const gauge =
        (registry.getSingleMetric(name) as Gauge | undefined) ??
        new Gauge({ name, help, registers: [registry] });
      gauge.set(value ? 1 : 0);
    },
  };
}

/** Counts by one or two label values, handed over and zeroed when drained. */
class LabelCounts {
  private readonly counts = new Map<string, Map<string, number>>();

  add(first: string, second: string): void {
    let inner = this.counts.get(first);
    if (!inner) this.counts.set(first, (inner = new Map<string, number>()));
    inner.set(second, (inner.get(second) ?? 0) + 1);
  }

  drain(each: (first: string, second: string, count: number) => void): void {
    for (const [first, inner] of this.counts) {
      for (const [second, count] of inner) {
        if (count === 0) continue;
        each(first, second, count);
        inner.set(second, 0);
      }
    }
  }
}
