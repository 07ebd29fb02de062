// What the relay core needs from a broker, and what a broker module offers the rest of the relay.
// Drivers (kafkajs, amqplib) stay behind these interfaces; each broker is one SinkDescriptor listed
// in registry.ts.
import type * as z from 'zod';
import type { EnvSettings } from '../config-fields.js';
import type { MessageFormat } from '../formats/format.js';
import type { PrometheusMetrics } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import type { TemplateField } from '../routing/template.js';
import type { OutboxEvent, WalPosition } from '../wal/event.js';
import type { Lsn } from '../wal/lsn.js';
import type { ServerIdentity, TimelineHistory } from '../wal/timeline.js';

/** A broker's name: its key in the routes file, its metric label, its descriptor's name. */
export type SinkName = string;

/** Where one event goes, with every template already filled in; each sink adds its own fields. */
export interface ResolvedDestination {
  readonly sink: SinkName;
  /** The destination in metric labels (few values: a name built from an aggregate id is its template). */
  readonly label: string;
}

/** A destination as the router hands it out: where an event goes, and the format its route chose. */
export interface FormattedDestination extends ResolvedDestination {
  readonly format: MessageFormat;
}

export interface SinkMessage {
  readonly event: OutboxEvent;
  readonly destination: FormattedDestination;
  /** Where the event sits in the WAL; undefined for rows a slot sweep read (and the publisher API). */
  readonly position?: WalPosition | undefined;
}

/**
 * A message on its way, and where its outcome goes: the relay publishes tens of thousands a second,
 * so the message and its callbacks are one object (pipeline/delivery.ts), not a promise and its
 * handlers. Exactly one of the callbacks is called, once.
 */
export interface Publication extends SinkMessage {
  /** The broker confirmed the message. */
  confirmed(): void;
  /** It failed: for good with an UndeliverableError (dead-lettered); anything else is retried. */
  failed(error: unknown): void;
}

/** Sends `message` through `sink`: resolves when it is confirmed, rejects when it failed. */
export function publishAsync(sink: Pick<Sink, 'publish'>, message: SinkMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    const { event, destination, position } = message;
    sink.publish({ event, destination, position, confirmed: resolve, failed: reject });
  });
}

/**
 * The broker refused this message for good (too large, unroutable, rejected): retrying cannot help,
 * so the event is dead-lettered. Every other failure is retried by the sink, forever.
 */
export class UndeliverableError extends Error {
  constructor(
    message: string,
    /** A short, bounded reason, used as a metric label. */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'UndeliverableError';
  }
}

export interface Sink {
  readonly name: SinkName;
  /** True while the sink is connected to its broker and publishing. */
  readonly ready: boolean;
  connect(): Promise<void>;
  /**
   * Sends the message; tells `publication` once: confirmed() when the broker confirmed it, failed()
   * when it refused it for good (UndeliverableError; the sink retries every other failure itself).
   * Neither when close() came first. Messages sharing a key and destination are confirmed in the
   * order they were published. (publishAsync() is the same as a promise.)
   */
  publish(publication: Publication): void;
  /**
   * Stops retrying and disconnects. Called once the relay waited for what it needed; messages not
   * yet confirmed stay unsettled (they are published again by the next start).
   */
  close(): Promise<void>;
  /**
   * The slot was (re)created with its consistent point at `consistentLsn`: what the sink recorded of
   * the old slot's WAL no longer applies (after a PostgreSQL failover, LSNs can even go back). Called
   * after the sweep, before streaming; optional.
   */
  slotCreated?(consistentLsn: Lsn): Promise<void>;
  /** A new slot's sweep begins; the slot's consistent point is `consistentLsn`. Optional. */
  sweepStarting?(consistentLsn: Lsn): void;
  /**
   * A replication session streams from `identity` (before its sweep or stream): what the sink
   * recorded of another server's WAL may not hold here. `timelineHistory` reads the history of a
   * timeline of that server (undefined when the server has none). Optional.
   */
  serverIdentified?(
    identity: ServerIdentity,
    timelineHistory: (timeline: number) => Promise<TimelineHistory | undefined>,
  ): Promise<void>;
  /** The slot confirmed `lsn`: every transaction before it is completed. Optional. */
  walConfirmed?(lsn: Lsn): void;
}

/** A routes-file destination, compiled once: what it needs of an event, and how to fill it in. */
export interface CompiledDestination<Destination extends ResolvedDestination = ResolvedDestination> {
  /** The event fields its templates use. */
  readonly fields: readonly TemplateField[];
  readonly resolve: (event: OutboxEvent) => Destination;
}

/** What a sink is created with, besides its own settings. */
export interface SinkContext {
  readonly logger: Logger;
  readonly metrics: PrometheusMetrics;
  /** Counts a failed publish or connect attempt (outbox_relay_publish_errors_total{sink}). */
  readonly onPublishError: () => void;
  /** Logs the broker becoming reachable or unreachable ('broker connected' / 'broker connection lost'). */
  readonly onReadyChange: (ready: boolean) => void;
  /**
   * The sink cannot go on and the relay must stop (a Kafka producer fenced by another instance that
   * took over the slot). Absent outside the relay (the publisher API).
   */
  readonly onFatal?: ((error: Error) => void) | undefined;
}

/**
 * One broker: its settings (environment variables), its routes-file destinations, and how its sink
 * is made. Settings are undefined when the broker is not configured (its main variable is unset).
 */
export interface SinkDescriptor<
  Settings = unknown,
  Spec = unknown,
  Destination extends ResolvedDestination = ResolvedDestination,
> {
  /** The routes-file key (`kafka: { topic }`), the metric label, Destination['sink']. */
  readonly name: SinkName;
  /** The broker's name in messages (`a route sends to Kafka`). */
  readonly title: string;
  /** The variable that configures the broker; its absence means the broker is not used. */
  readonly variable: string;
  /** The environment variables it reads (schema and doc of each), in documentation order. */
  readonly env: EnvSettings;
  /** Validated variables (of `env` and others) -> settings; throws ConfigError on a bad combination. */
  settings(env: Readonly<Record<string, unknown>>): Settings | undefined;
  /** The routes-file destination's fields (`{ topic }`), as shown in `expected exactly one of`. */
  readonly synopsis: string;
  /** The routes-file destination schema; its error messages are the routes file's. */
  readonly destination: z.ZodType<Spec, unknown>;
  /** Where events go when there is no routes file and this is the first broker configured. */
  readonly defaultDestination: Spec;
  compile(spec: Spec): CompiledDestination<Destination>;
  /** The destination as the dead-letter table names it (`kafka:orders`). */
  describe(destination: Destination): string;
  /** Creates the sink (its driver loads here, not when the registry is imported). */
  create(settings: Settings, context: SinkContext): Promise<Sink>;
}

/** A descriptor of any broker: the registry's element type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySinkDescriptor = SinkDescriptor<any, any, any>;

/** Type-checks a descriptor's parts against each other and keeps its literal name. */
export function defineSink<
  const Name extends string,
  Settings,
  Spec,
  Destination extends ResolvedDestination,
>(
  descriptor: SinkDescriptor<Settings, Spec, Destination> & { readonly name: Name },
): SinkDescriptor<Settings, Spec, Destination> & { readonly name: Name } {
  return descriptor;
}
