// Aggregate type -> destinations. Pure: the routes are compiled once, then every event is matched
// against them in order; the first route whose pattern matches wins. Destinations are compiled by
// their broker's descriptor (src/sinks/registry.ts).
import { SINKS, sinkNamed } from '../sinks/registry.js';
import type { SinkRegistry } from '../sinks/registry.js';
import { DEFAULT_FORMAT } from '../formats/registry.js';
import type { MessageFormat } from '../formats/format.js';
import type {
  CompiledDestination,
  FormattedDestination,
  ResolvedDestination,
  SinkName,
} from '../sinks/sink.js';
import type { OutboxEvent } from '../wal/event.js';

/**
 * One destination as the routes file writes it: a single key, the broker's name, holding that
 * broker's destination (`{ <broker>: { ... } }`, validated by its descriptor).
 */
export type DestinationSpec = Readonly<Record<SinkName, unknown>>;

/** What to do with an event a broker refuses for good (unroutable, too large, no such exchange). */
export type UndeliverablePolicy = 'deadLetter' | 'retry';

export interface RouteSpec {
  readonly aggregateType: string;
  readonly destinations: readonly DestinationSpec[];
  /** Default deadLetter; retry keeps trying (say, until a consumer binds its queue), holding the slot. */
  readonly onUndeliverable?: UndeliverablePolicy;
  /** The format of its messages; absent: the spec's `format`. */
  readonly format?: MessageFormat;
}

export interface RoutesSpec {
  readonly routes: readonly RouteSpec[];
  readonly default: 'deadLetter' | readonly DestinationSpec[];
  /** The format of the default destinations and of routes that name none (OUTBOX_FORMAT); absent: native. */
  readonly format?: MessageFormat;
}

export type RouteResult =
  | {
      readonly destinations: readonly FormattedDestination[];
      readonly onUndeliverable: UndeliverablePolicy;
    }
  | { readonly deadLetter: string };

interface RoutedDestination {
  readonly sink: SinkName;
  readonly fields: CompiledDestination['fields'];
  readonly resolve: (event: OutboxEvent) => FormattedDestination;
}

interface CompiledRoute {
  readonly matches: (aggregateType: string) => boolean;
  readonly destinations: readonly RoutedDestination[];
  readonly onUndeliverable: UndeliverablePolicy;
}

/**
 * Without a routes file: the first configured broker of the registry, to its descriptor's
 * defaultDestination.
 */
export function defaultRoutes(
  brokers: Readonly<Record<SinkName, boolean>>,
  registry: SinkRegistry = SINKS,
): RoutesSpec {
  const sink = registry.find(({ name }) => brokers[name]) ?? registry[0]!;
  return { routes: [], default: [{ [sink.name]: sink.defaultDestination as unknown }] };
}

export class Router {
  private readonly routes: readonly CompiledRoute[];
  private readonly fallback: CompiledRoute | undefined;
  private readonly formats: readonly MessageFormat[];
  /** Whether a template names ${aggregateId}: then no two events are known to route alike. */
  private readonly perAggregate: boolean;
  // Consecutive events mostly share their aggregate and event types (a transaction's, a stream's):
  // their routing is then the same, and the last result (immutable) is handed out again.
  private last: { aggregateType: string; eventType: string; result: RouteResult } | undefined;

  constructor(spec: RoutesSpec, registry: SinkRegistry = SINKS) {
    const fallbackFormat = spec.format ?? DEFAULT_FORMAT;
    this.formats = [fallbackFormat, ...spec.routes.flatMap((route) => (route.format ? [route.format] : []))];
    const compile = (format: MessageFormat) => (destination: DestinationSpec) =>
      compileDestination(destination, format, registry);
    this.routes = spec.routes.map((route) => ({
      matches: globMatcher(route.aggregateType),
      destinations: route.destinations.map(compile(route.format ?? fallbackFormat)),
      onUndeliverable: route.onUndeliverable ?? 'deadLetter',
    }));
    this.fallback =
      spec.default === 'deadLetter'
        ? undefined
        : {
            matches: () => true,
            destinations: spec.default.map(compile(fallbackFormat)),
            onUndeliverable: 'deadLetter',
          };
    this.perAggregate = [...this.routes, ...(this.fallback ? [this.fallback] : [])].some((route) =>
      route.destinations.some((destination) => destination.fields.includes('aggregateId')),
    );
  }

  /** Whether a route's format reads the columns' text as PostgreSQL printed it (see MessageFormat). */
  readsColumnText(): boolean {
    return this.formats.some((format) => format.readsColumnText === true);
  }

  /** The sinks any route can send to. */
  sinks(): Set<SinkName> {
    const all = [...this.routes, ...(this.fallback ? [this.fallback] : [])].flatMap(
      (route) => route.destinations,
    );
    return new Set(all.map((destination) => destination.sink));
  }

  route(event: OutboxEvent): RouteResult {
    const last = this.last;
    if (last && last.aggregateType === event.aggregateType && last.eventType === event.eventType)
      return last.result;
    const result = this.resolve(event);
    if (!this.perAggregate)
      this.last = { aggregateType: event.aggregateType, eventType: event.eventType, result };
    return result;
  }

  private resolve(event: OutboxEvent): RouteResult {
    const route = this.routes.find((candidate) => candidate.matches(event.aggregateType)) ?? this.fallback;
    if (!route) return { deadLetter: `no route for aggregate type ${JSON.stringify(event.aggregateType)}` };
    return {
      destinations: route.destinations.map((destination) => destination.resolve(event)),
      onUndeliverable: route.onUndeliverable,
    };
  }
}

function compileDestination(
  spec: DestinationSpec,
  format: MessageFormat,
  registry: SinkRegistry,
): RoutedDestination {
  const [name, ...others] = Object.keys(spec);
  if (name === undefined || others.length > 0)
    throw new Error(`a destination names one broker, not ${JSON.stringify(Object.keys(spec))}`);
  const compiled = sinkNamed(name, registry).compile(spec[name]);
  const resolve: (event: OutboxEvent) => ResolvedDestination = compiled.resolve;
  return { sink: name, fields: compiled.fields, resolve: (event) => ({ ...resolve(event), format }) };
}

/** Exact names, or globs where `*` matches any run of characters (`order.*`, `*`). */
export function globMatcher(pattern: string): (value: string) => boolean {
  if (!pattern.includes('*')) return (value) => value === pattern;
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const regex = new RegExp(`^${source}$`);
  return (value) => regex.test(value);
}
