// Metrics of the exactly-once Kafka sink (KAFKA_EXACTLY_ONCE): its Kafka transactions.
import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

export interface TransactionMetrics {
  committed(events: number, seconds: number): void;
  aborted(): void;
  /** Events the committed progress already covered: not sent again. */
  skipped(events: number): void;
}

export function createTransactionMetrics(registry: Registry): TransactionMetrics {
  const committed = new Counter({
    name: 'outbox_relay_kafka_transactions_committed_total',
    help: 'Kafka transactions committed (KAFKA_EXACTLY_ONCE).',
    registers: [registry],
  });
  const aborted = new Counter({
    name: 'outbox_relay_kafka_transactions_aborted_total',
    help: 'Kafka transactions aborted or failed, then retried (KAFKA_EXACTLY_ONCE).',
    registers: [registry],
  });
  const skipped = new Counter({
    name: 'outbox_relay_kafka_events_skipped_total',
    help: 'Events not sent again because the committed progress record covers them (KAFKA_EXACTLY_ONCE).',
    registers: [registry],
  });
  const events = new Histogram({
    name: 'outbox_relay_kafka_transaction_events',
    help: 'Events per committed Kafka transaction (KAFKA_EXACTLY_ONCE).',
    buckets: [1, 10, 50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'outbox_relay_kafka_transaction_seconds',
    help: 'Time from the start of a Kafka transaction to its commit (KAFKA_EXACTLY_ONCE).',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  committed.inc(0);
  aborted.inc(0);
  skipped.inc(0);
  return {
    committed(count, seconds) {
      committed.inc();
      events.observe(count);
      latency.observe(seconds);
    },
    aborted: () => aborted.inc(),
    skipped: (count) => skipped.inc(count),
  };
}
