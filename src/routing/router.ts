// Aggregate type -> destinations. Pure: the routes are compiled once, then every event is matched
// against them in order; the first route whose pattern matches wins.
import type { ExchangeType, ResolvedDestination, SinkName } from '../sinks/sink.js';
import type { OutboxEvent } from '../wal/event.js';
import { compileTemplate } from './template.js';
import type { Template, TemplateField } from './template.js';

export type DestinationSpec =
  | { readonly kafka: { readonly topic: string } }
  | {
      readonly rabbitmq: {
        readonly exchange: string;
        readonly routingKey: string;
        /** Declare the exchange at first use; otherwise it must already exist. */
        readonly assert?: boolean;
        /** The exchange type to declare (default topic); only with assert. */
        readonly type?: ExchangeType;
      };
    };

/** What to do with an event a broker refuses for good (unroutable, too large, no such exchange). */
export type UndeliverablePolicy = 'deadLetter' | 'retry';

export interface RouteSpec {
  readonly aggregateType: string;
  readonly destinations: readonly DestinationSpec[];
  /** Default deadLetter; retry keeps trying (say, until a consumer binds its queue), holding the slot. */
  readonly onUndeliverable?: UndeliverablePolicy;
}

export interface RoutesSpec {
  readonly routes: readonly RouteSpec[];
  readonly default: 'deadLetter' | readonly DestinationSpec[];
}

export type RouteResult =
  | {
      readonly destinations: readonly ResolvedDestination[];
      readonly onUndeliverable: UndeliverablePolicy;
    }
  | { readonly deadLetter: string };

interface CompiledDestination {
  readonly sink: SinkName;
  /** The event fields its templates use. */
  readonly fields: readonly TemplateField[];
  readonly resolve: (event: OutboxEvent) => ResolvedDestination;
}

interface CompiledRoute {
  readonly matches: (aggregateType: string) => boolean;
  readonly destinations: readonly CompiledDestination[];
  readonly onUndeliverable: UndeliverablePolicy;
}

/**
 * Without a routes file: Kafka topic outbox.<aggregateType>, else the RabbitMQ topic exchange
 * `outbox`, declared by the relay since no one configured it.
 */
export function defaultRoutes(brokers: { kafka: boolean; rabbitmq: boolean }): RoutesSpec {
  const destination: DestinationSpec = brokers.kafka
    ? { kafka: { topic: 'outbox.${aggregateType}' } }
    : {
        rabbitmq: {
          exchange: 'outbox',
          routingKey: '${aggregateType}.${eventType}',
          assert: true,
          type: 'topic',
        },
      };
  return { routes: [], default: [destination] };
}

export class Router {
  private readonly routes: readonly CompiledRoute[];
  private readonly fallback: CompiledRoute | undefined;
  /** Whether a template names ${aggregateId}: then no two events are known to route alike. */
  private readonly perAggregate: boolean;
  // Consecutive events mostly share their aggregate and event types (a transaction's, a stream's):
  // their routing is then the same, and the last result (immutable) is handed out again.
  private last: { aggregateType: string; eventType: string; result: RouteResult } | undefined;

  constructor(spec: RoutesSpec) {
    this.routes = spec.routes.map((route) => ({
      matches: globMatcher(route.aggregateType),
      destinations: route.destinations.map(compileDestination),
      onUndeliverable: route.onUndeliverable ?? 'deadLetter',
    }));
    this.fallback =
      spec.default === 'deadLetter'
        ? undefined
        : {
            matches: () => true,
            destinations: spec.default.map(compileDestination),
            onUndeliverable: 'deadLetter',
          };
    this.perAggregate = [...this.routes, ...(this.fallback ? [this.fallback] : [])].some((route) =>
      route.destinations.some((destination) => destination.fields.includes('aggregateId')),
    );
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

function compileDestination(spec: DestinationSpec): CompiledDestination {
  if ('kafka' in spec) {
    const topic = compileTemplate(spec.kafka.topic);
    return {
      sink: 'kafka',
      fields: topic.fields,
      resolve: (event) => {
        const name = topic.render(event);
        return { sink: 'kafka', topic: name, label: metricLabel(topic, name) };
      },
    };
  }
  const exchange = compileTemplate(spec.rabbitmq.exchange);
  const routingKey = compileTemplate(spec.rabbitmq.routingKey);
  const assertExchange = spec.rabbitmq.assert ? (spec.rabbitmq.type ?? 'topic') : undefined;
  return {
    sink: 'rabbitmq',
    fields: [...exchange.fields, ...routingKey.fields],
    resolve: (event) => {
      const name = exchange.render(event);
      return {
        sink: 'rabbitmq',
        exchange: name,
        routingKey: routingKey.render(event),
        assertExchange,
        label: metricLabel(exchange, name),
      };
    },
  };
}

// Metric labels must stay few: a name built from an aggregate id is reported by its template.
function metricLabel(template: Template, rendered: string): string {
  return template.fields.includes('aggregateId') ? template.source : rendered;
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
