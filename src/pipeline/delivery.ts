// Delivery: one event to every destination its route names, and the dead-letter decision. No I/O
// besides the Sink interface.
//
// An event is delivered when every destination confirmed it. A destination that refuses it for good
// (UndeliverableError) is tried up to maxAttempts times, then the event is dead-lettered with the
// first destination's refusal; a route with onUndeliverable: retry never gives up. Any other failure
// is retried without limit: it is never a reason to drop an event (sinks retry broker outages
// themselves; this is the net under a sink that gives up). Meanwhile the events behind keep flowing.
import type { DeadLetter } from '../completion.js';
import type { FormatRefusal } from '../formats/format.js';
import type { Logger } from '../observability/logger.js';
import type { RelayMetrics } from '../observability/metrics.js';
import type { RouteResult } from '../routing/router.js';
import { describeDestination } from '../sinks/registry.js';
import type { ResolvedDestination, Sink, SinkMessage, SinkName } from '../sinks/sink.js';
import { UndeliverableError } from '../sinks/sink.js';
import type { OutboxEvent, WalPosition } from '../wal/event.js';
import { backoffDelay } from './backoff.js';
import { sleep } from './sleep.js';
import { errorMessage } from '../errors.js';

export type DeliveryOutcome =
  | { readonly kind: 'delivered' }
  | {
      readonly kind: 'deadLetter';
      readonly deadLetter: DeadLetter;
      /** A short, bounded reason, used as a metric label. */
      readonly reason: string;
    };

export interface DeliveryOptions {
  readonly route: (event: OutboxEvent) => RouteResult;
  readonly sinks: ReadonlyMap<SinkName, Sink>;
  /** OUTBOX_MAX_ATTEMPTS: refusals before an event of a deadLetter route is parked. */
  readonly maxAttempts: number;
  readonly metrics: Pick<RelayMetrics, 'published' | 'endToEnd'>;
  readonly logger: Pick<Logger, 'warn'>;
  /** The pause before retry `attempt` (tests shorten it). */
  readonly retryDelay?: (attempt: number) => Promise<void>;
}

const DELIVERED: DeliveryOutcome = { kind: 'delivered' };

/** An event a destination refused on every attempt: it goes to the dead-letter table. */
class FailedDelivery extends Error {
  constructor(
    readonly error: UndeliverableError,
    readonly attempts: number,
  ) {
    super(error.message, { cause: error });
  }
}

export class Delivery {
  private readonly retryDelay: (attempt: number) => Promise<void>;

  constructor(private readonly options: DeliveryOptions) {
    this.retryDelay = options.retryDelay ?? ((attempt) => sleep(backoffDelay(attempt, 200, 5_000)));
  }

  /**
   * Sends `event` to its route's destinations and calls `settled` once every one has settled (never
   * with an error). Throws at once when the route names a sink that is not configured. A callback
   * rather than a promise: this runs once per event, and each promise saved is measurable.
   */
  deliver(
    event: OutboxEvent,
    commitTimeMs: number,
    position: WalPosition | undefined,
    settled: (outcome: DeliveryOutcome) => void,
  ): void {
    const route = this.options.route(event);
    if ('deadLetter' in route) {
      // Nothing was sent: no publish attempt is recorded.
      settled({
        kind: 'deadLetter',
        deadLetter: { error: route.deadLetter, destination: undefined, attempts: 0 },
        reason: 'unroutable',
      });
      return;
    }
    const { destinations } = route;
    const maxRefusals = route.onUndeliverable === 'retry' ? Infinity : this.options.maxAttempts;
    if (destinations.length === 1) {
      const destination = destinations[0]!;
      const message = { event, destination, position };
      this.send(this.sinkFor(destination), message, commitTimeMs, maxRefusals, settled);
      return;
    }
    // Every sink is looked up before anything is sent: a missing one throws with nothing published.
    const sinks = destinations.map((destination) => this.sinkFor(destination));
    let unsettled = destinations.length;
    let outcome = DELIVERED;
    const settle = (destinationOutcome: DeliveryOutcome): void => {
      // The first destination's refusal is the one the dead-letter row names.
      if (outcome.kind === 'delivered') outcome = destinationOutcome;
      unsettled -= 1;
      if (unsettled === 0) settled(outcome);
    };
    for (let i = 0; i < destinations.length; i++) {
      const message = { event, destination: destinations[i]!, position };
      this.send(sinks[i]!, message, commitTimeMs, maxRefusals, settle);
    }
  }

  private sinkFor(destination: ResolvedDestination): Sink {
    const sink = this.options.sinks.get(destination.sink);
    if (!sink) throw new Error(`no ${destination.sink} sink configured for ${destination.label}`);
    return sink;
  }

  /** One destination: its first attempt costs one promise; the retry loop starts only after a failure. */
  private send(
    sink: Sink,
    message: SinkMessage,
    commitTimeMs: number,
    maxRefusals: number,
    settled: (outcome: DeliveryOutcome) => void,
  ): void {
    const { metrics } = this.options;
    const delivered = (): void => {
      const { destination } = message;
      metrics.published(destination.sink, destination.label, destination.format.name);
      metrics.endToEnd((Date.now() - commitTimeMs) / 1000);
      settled(DELIVERED);
    };
    const failed = ({ error, attempts }: FailedDelivery): void =>
      settled({
        kind: 'deadLetter',
        deadLetter: {
          error: errorMessage(error),
          destination: describeDestination(message.destination),
          attempts,
        },
        reason: error.reason,
      });
    // A payload that does not fit its schema never will: parked at once, nothing sent, no retries.
    const refused = (refusal: FormatRefusal): void => {
      const deadLetter = { error: refusal.message, destination: describeDestination(message.destination) };
      settled({ kind: 'deadLetter', deadLetter: { ...deadLetter, attempts: 0 }, reason: refusal.reason });
    };
    const { format } = message.destination;
    const refusal = format.refuse?.(message.event);
    if (refusal) return refused(refusal);
    const publish = (): void => {
      sink
        .publish(message)
        .then(delivered, (error: unknown) =>
          this.redeliver(sink, message, error, maxRefusals).then(delivered, failed),
        );
    };
    // Registry mode: the schema id first. The promise settles in event order (and retries an
    // unreachable registry itself), so events publish in the order they came.
    const ready = format.prepare?.(message.event, message.destination);
    if (!ready) return publish();
    void ready.then((prepareRefusal) => (prepareRefusal ? refused(prepareRefusal) : publish()));
  }

  /**
   * Publishes again a message whose first attempt failed with `firstError`; rejects with
   * FailedDelivery after maxRefusals refusals for good, and retries any other failure forever.
   */
  private async redeliver(
    sink: Sink,
    message: SinkMessage,
    firstError: unknown,
    maxRefusals: number,
  ): Promise<void> {
    let refusals = 0;
    let error = firstError;
    for (let attempt = 1; ; attempt++) {
      if (error instanceof UndeliverableError) refusals += 1;
      if (error instanceof UndeliverableError && refusals >= maxRefusals) {
        throw new FailedDelivery(error, refusals);
      }
      this.options.logger.warn(
        { err: error, id: message.event.id, destination: message.destination.label, attempt },
        error instanceof UndeliverableError ? 'event refused, trying again' : 'publish failed, retrying',
      );
      await this.retryDelay(attempt);
      try {
        await sink.publish(message);
        return;
      } catch (next) {
        error = next;
      }
    }
  }
}
