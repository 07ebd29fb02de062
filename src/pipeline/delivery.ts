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
import type {
  FormattedDestination,
  Publication,
  ResolvedDestination,
  Sink,
  SinkName,
} from '../sinks/sink.js';
import { publishAsync, UndeliverableError } from '../sinks/sink.js';
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

/** Who is told an event's delivery outcome, once (an object, not a closure: one per event). */
export interface DeliveryListener {
  settled(outcome: DeliveryOutcome): void;
}

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
  /** Read by its attempts. */
  readonly retryDelay: (attempt: number) => Promise<void>;

  constructor(readonly options: DeliveryOptions) {
    this.retryDelay = options.retryDelay ?? ((attempt) => sleep(backoffDelay(attempt, 200, 5_000)));
  }

  /**
   * Sends `event` to its route's destinations and tells `listener` once every one has settled (never
   * with an error). Throws at once when the route names a sink that is not configured. A listener
   * rather than a promise: this runs once per event, and each object saved is measurable.
   */
  deliver(
    event: OutboxEvent,
    commitTimeMs: number,
    position: WalPosition | undefined,
    listener: DeliveryListener,
  ): void {
    const route = this.options.route(event);
    if ('deadLetter' in route) {
      // Nothing was sent: no publish attempt is recorded.
      listener.settled({
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
      this.send(this.sinkFor(destination), event, destination, position, commitTimeMs, maxRefusals, listener);
      return;
    }
    // Every sink is looked up before anything is sent: a missing one throws with nothing published.
    const sinks = destinations.map((destination) => this.sinkFor(destination));
    let unsettled = destinations.length;
    let outcome = DELIVERED;
    const each: DeliveryListener = {
      settled(destinationOutcome) {
        // The first destination's refusal is the one the dead-letter row names.
        if (outcome.kind === 'delivered') outcome = destinationOutcome;
        unsettled -= 1;
        if (unsettled === 0) listener.settled(outcome);
      },
    };
    for (let i = 0; i < destinations.length; i++) {
      this.send(sinks[i]!, event, destinations[i]!, position, commitTimeMs, maxRefusals, each);
    }
  }

  private sinkFor(destination: ResolvedDestination): Sink {
    const sink = this.options.sinks.get(destination.sink);
    if (!sink) throw new Error(`no ${destination.sink} sink configured for ${destination.label}`);
    return sink;
  }

  /** One destination: one object (the Attempt) on the way there; retries start only after a failure. */
  private send(
    sink: Sink,
    event: OutboxEvent,
    destination: FormattedDestination,
    position: WalPosition | undefined,
    commitTimeMs: number,
    maxRefusals: number,
    listener: DeliveryListener,
  ): void {
    const attempt = new Attempt(
      event,
      destination,
      position,
      sink,
      commitTimeMs,
      maxRefusals,
      listener,
      this,
    );
    // A payload that does not fit its schema never will: parked at once, nothing sent, no retries.
    const { format } = destination;
    const refusal = format.refuse?.(event);
    if (refusal) return attempt.refused(refusal);
    // Registry mode: the schema id first. The promise settles in event order (and retries an
    // unreachable registry itself), so events publish in the order they came.
    const ready = format.prepare?.(event, destination);
    if (!ready) return attempt.publish();
    void ready.then((prepareRefusal) =>
      prepareRefusal ? attempt.refused(prepareRefusal) : attempt.publish(),
    );
  }
}

/** One event on its way to one destination: the message its sink publishes, and its outcome. */
class Attempt implements Publication {
  constructor(
    readonly event: OutboxEvent,
    readonly destination: FormattedDestination,
    readonly position: WalPosition | undefined,
    private readonly sink: Sink,
    private readonly commitTimeMs: number,
    private readonly maxRefusals: number,
    private readonly listener: DeliveryListener,
    private readonly delivery: Delivery,
  ) {}

  publish(): void {
    try {
      this.sink.publish(this);
    } catch (error) {
      this.failed(error);
    }
  }

  confirmed(): void {
    const { destination } = this;
    const { metrics } = this.delivery.options;
    metrics.published(destination.sink, destination.label, destination.format.name);
    metrics.endToEnd((Date.now() - this.commitTimeMs) / 1000);
    this.listener.settled(DELIVERED);
  }

  failed(error: unknown): void {
    this.redeliver(error).then(
      () => this.confirmed(),
      (failure: FailedDelivery) =>
        this.listener.settled({
          kind: 'deadLetter',
          deadLetter: {
            error: errorMessage(failure.error),
            destination: describeDestination(this.destination),
            attempts: failure.attempts,
          },
          reason: failure.error.reason,
        }),
    );
  }

  refused(refusal: FormatRefusal): void {
    this.listener.settled({
      kind: 'deadLetter',
      deadLetter: { error: refusal.message, destination: describeDestination(this.destination), attempts: 0 },
      reason: refusal.reason,
    });
  }

  /**
   * Publishes again after the first attempt failed with `firstError`; rejects with FailedDelivery
   * after maxRefusals refusals for good, and retries any other failure forever.
   */
  private async redeliver(firstError: unknown): Promise<void> {
    const { sink, maxRefusals } = this;
    const { options, retryDelay } = this.delivery;
    let refusals = 0;
    let error = firstError;
    for (let attempt = 1; ; attempt++) {
      if (error instanceof UndeliverableError) refusals += 1;
      if (error instanceof UndeliverableError && refusals >= maxRefusals) {
        throw new FailedDelivery(error, refusals);
      }
      options.logger.warn(
        { err: error, id: this.event.id, destination: this.destination.label, attempt },
        error instanceof UndeliverableError ? 'event refused, trying again' : 'publish failed, retrying',
      );
      await retryDelay(attempt);
      try {
        await publishAsync(sink, this);
        return;
      } catch (next) {
        error = next;
      }
    }
  }
}
