// The routes file (OUTBOX_ROUTES, YAML or JSON) -> a validated RoutesSpec. Every mistake is caught at
// start-up and reported in one line naming the route, the field and what is expected.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { EXCHANGE_TYPES } from '../sinks/sink.js';
import type { SinkName } from '../sinks/sink.js';
import type { DestinationSpec, RoutesSpec } from './router.js';
import { compileTemplate } from './template.js';

/** A mistake in the routes file: `where` is a path such as `routes[1] (aggregateType "user").destinations[0]`. */
export class RoutesFileError extends Error {
  constructor(
    readonly where: string,
    readonly expected: string,
  ) {
    super(where ? `${where}: ${expected}` : expected);
    this.name = 'RoutesFileError';
  }
}

export interface ConfiguredBrokers {
  readonly kafka: boolean;
  readonly rabbitmq: boolean;
}

const BROKER_VARIABLE: Record<SinkName, string> = { kafka: 'KAFKA_BROKERS', rabbitmq: 'RABBITMQ_URL' };

// Kafka's legal topic characters; template fields are checked when they are filled in, by the broker.
const KAFKA_TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const UNSUPPORTED_GLOB = /[?[\]{}!\s]|\*\*/;

const template = (what: string) =>
  z
    .string({
      error: (issue) => (issue.input === undefined ? `required: ${what}` : `expected ${what} as a string`),
    })
    .min(1, `expected a non-empty ${what}`)
    .superRefine((source, ctx) => {
      try {
        compileTemplate(source);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    });

const kafkaDestination = z.strictObject({
  topic: template('a topic name').refine(
    (topic) => KAFKA_TOPIC.test(topic.replace(/\$\{[^}]*\}/g, 'x')),
    'expected a Kafka topic name: letters, digits, ".", "_" and "-", at most 249',
  ),
});

const rabbitmqDestination = z
  .strictObject({
    exchange: template('an exchange name'),
    routingKey: template('a routing key').default('${aggregateType}.${eventType}'),
    assert: z.boolean({ error: 'expected true or false' }).default(false),
    type: z.enum(EXCHANGE_TYPES, { error: `expected one of ${EXCHANGE_TYPES.join(', ')}` }).optional(),
  })
  .refine((destination) => destination.assert || destination.type === undefined, {
    message: 'only used with assert: true (the relay declares the exchange with this type)',
    path: ['type'],
  });

const destination = z
  .strictObject({ kafka: kafkaDestination.optional(), rabbitmq: rabbitmqDestination.optional() })
  .refine((spec) => (spec.kafka === undefined) !== (spec.rabbitmq === undefined), {
    message: 'expected exactly one of kafka: { topic } or rabbitmq: { exchange, routingKey }',
  })
  .transform((spec): DestinationSpec => (spec.kafka ? { kafka: spec.kafka } : { rabbitmq: spec.rabbitmq! }));

const destinations = z
  .array(destination, { error: 'expected a list of destinations' })
  .min(1, 'expected at least one destination');

const route = z.strictObject({
  aggregateType: z
    .string({ error: 'required: an aggregate type, or a glob such as order.* or *' })
    .min(1, 'expected an aggregate type, or a glob such as order.* or *')
    .refine(
      (pattern) => !UNSUPPORTED_GLOB.test(pattern),
      'expected a name or a glob where only * is special',
    ),
  destinations,
  onUndeliverable: z
    .enum(['deadLetter', 'retry'], { error: 'expected deadLetter or retry' })
    .default('deadLetter'),
});

const routesFile = z.strictObject({
  routes: z.array(route, { error: 'expected a list of routes' }).default([]),
  default: z
    .union([z.literal('deadLetter'), destinations], {
      error: 'expected deadLetter or a list of destinations',
    })
    .default('deadLetter'),
});

/** Reads and validates OUTBOX_ROUTES. Throws RoutesFileError. */
export function loadRoutesFile(path: string, brokers: ConfiguredBrokers): RoutesSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new RoutesFileError(
      '',
      `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  // YAML 1.2 is a superset of JSON: one parser reads both.
  const document = parseDocument(text);
  const syntaxError = document.errors[0];
  if (syntaxError) {
    const line = syntaxError.linePos?.[0].line;
    throw new RoutesFileError('', `expected YAML or JSON${line ? `, syntax error on line ${line}` : ''}`);
  }
  return parseRoutes(document.toJS() as unknown, brokers);
}

/** Validates a parsed routes document. Pure; throws RoutesFileError on the first mistake. */
export function parseRoutes(document: unknown, brokers: ConfiguredBrokers): RoutesSpec {
  const parsed = routesFile.safeParse(document ?? {});
  if (!parsed.success) {
    const issue = mostSpecific(parsed.error.issues);
    throw new RoutesFileError(describePath(document, issue.path), describeIssue(issue));
  }
  const spec = parsed.data;
  const unconfigured = (list: readonly DestinationSpec[], where: string): void => {
    list.forEach((destination, index) => {
      const sink: SinkName = 'kafka' in destination ? 'kafka' : 'rabbitmq';
      if (!brokers[sink]) {
        throw new RoutesFileError(
          `${where}.destinations[${index}].${sink}`,
          `${BROKER_VARIABLE[sink]} is not set: configure the broker or remove this destination`,
        );
      }
    });
  };
  spec.routes.forEach((entry, index) =>
    unconfigured(entry.destinations, routeName(index, entry.aggregateType)),
  );
  if (spec.default !== 'deadLetter') unconfigured(spec.default, 'default');
  return spec;
}

// A union failing reports one issue per option: the deepest one is the mistake the user made.
function mostSpecific(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue {
  const first = issues[0]!;
  if (first.code !== 'invalid_union') return first;
  const nested = first.errors.flat().filter((issue) => issue.path.length > 0);
  if (nested.length === 0) return first;
  const deepest = nested.reduce((a, b) => (b.path.length > a.path.length ? b : a));
  return { ...mostSpecific([deepest]), path: [...first.path, ...deepest.path] };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((key) => JSON.stringify(key)).join(', ');
    return `unknown key ${keys}`;
  }
  return issue.message;
}

function routeName(index: number, aggregateType: unknown): string {
  return typeof aggregateType === 'string'
    ? `routes[${index}] (aggregateType ${JSON.stringify(aggregateType)})`
    : `routes[${index}]`;
}

/** `routes[1] (aggregateType "user").destinations[0].kafka.topic` */
function describePath(document: unknown, path: readonly PropertyKey[]): string {
  let out = '';
  path.forEach((key, depth) => {
    if (depth === 1 && path[0] === 'routes' && typeof key === 'number') {
      const routes = (document as { routes?: { aggregateType?: unknown }[] }).routes;
      out = routeName(key, routes?.[key]?.aggregateType);
    } else if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  });
  return out;
}
