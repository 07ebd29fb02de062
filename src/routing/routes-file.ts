// The routes file (OUTBOX_ROUTES, YAML or JSON) -> a validated RoutesSpec. Every mistake is caught at
// start-up and reported in one line naming the route, the field and what is expected. Each broker's
// destination (`<broker>: { ... }`) is validated by the schema of its descriptor (src/sinks/registry.ts),
// and a route's `format` (`cloudevents`, `{ cloudevents: { source } }`) by its format's descriptor
// (src/formats/registry.ts), which makes the format here, once per spelling.
import { readFileSync } from 'node:fs';
import type * as yaml from 'yaml';
import * as z from 'zod';
import { lazyModule } from '../lazy-module.js';
import { Formats } from '../formats/registry.js';
import type { FormatSpec } from '../formats/registry.js';
import { SINKS } from '../sinks/registry.js';
import type { SinkRegistry } from '../sinks/registry.js';
import type { SinkName } from '../sinks/sink.js';
import type { DestinationSpec, RoutesSpec } from './router.js';

const loadYaml = lazyModule<typeof yaml>('yaml');

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

/** Whether each broker is configured (its variable set), by name. */
export type ConfiguredBrokers = Readonly<Record<SinkName, boolean>>;

const UNSUPPORTED_GLOB = /[?[\]{}!\s]|\*\*/;

/** Each broker's `name: { synopsis }`, as `a: { x }, b: { y } or c: { z }`. */
function synopsis(registry: SinkRegistry): string {
  const each = registry.map((sink) => `${sink.name}: { ${sink.synopsis} }`);
  return each.length < 2 ? each.join('') : `${each.slice(0, -1).join(', ')} or ${each.at(-1)!}`;
}

const destinations = (registry: SinkRegistry) =>
  z
    .array(
      z
        .strictObject(Object.fromEntries(registry.map((sink) => [sink.name, sink.destination.optional()])))
        .refine((spec) => Object.values(spec).filter((value) => value !== undefined).length === 1, {
          message: `expected exactly one of ${synopsis(registry)}`,
        })
        .transform((spec): DestinationSpec =>
          Object.fromEntries(Object.entries(spec).filter(([, value]) => value !== undefined)),
        ),
      { error: 'expected a list of destinations' },
    )
    .min(1, 'expected at least one destination');

/** `native, cloudevents or cloudevents-structured, or { cloudevents: { source } }` */
function formatSynopsis(formats: Formats): string {
  const names = formats.registry.map(({ name }) => name);
  const named = names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}`;
  const withOptions = formats.registry.flatMap(({ name, options }) =>
    options ? [`{ ${name}: { ${options.synopsis} } }`] : [],
  );
  return withOptions.length ? `${named}, or ${withOptions.join(' or ')}` : named;
}

const format = (formats: Formats) => {
  const names = new Set(formats.registry.map(({ name }) => name));
  const withOptions = formats.registry.flatMap(({ name, options }) =>
    options ? [[name, options.schema.optional()] as const] : [],
  );
  const expected = `expected ${formatSynopsis(formats)}`;
  return z
    .union(
      [
        z.string().refine((name) => names.has(name), expected),
        z
          .strictObject(Object.fromEntries(withOptions))
          .refine(
            (spec) => Object.values(spec).filter((value) => value !== undefined).length === 1,
            expected,
          ),
      ],
      { error: expected },
    )
    .transform((spec) => formats.get(spec as FormatSpec));
};

const routesFile = (registry: SinkRegistry, formats: Formats) => {
  const list = destinations(registry);
  const route = z.strictObject({
    aggregateType: z
      .string({ error: 'required: an aggregate type, or a glob such as order.* or *' })
      .min(1, 'expected an aggregate type, or a glob such as order.* or *')
      .refine(
        (pattern) => !UNSUPPORTED_GLOB.test(pattern),
        'expected a name or a glob where only * is special',
      ),
    destinations: list,
    onUndeliverable: z
      .enum(['deadLetter', 'retry'], { error: 'expected deadLetter or retry' })
      .default('deadLetter'),
    format: format(formats).optional(),
  });
  return z.strictObject({
    routes: z.array(route, { error: 'expected a list of routes' }).default([]),
    default: z
      .union([z.literal('deadLetter'), list], {
        error: 'expected deadLetter or a list of destinations',
      })
      .default('deadLetter'),
  });
};

/** Reads and validates OUTBOX_ROUTES; `formats` makes the formats routes name. Throws RoutesFileError. */
export function loadRoutesFile(
  path: string,
  brokers: ConfiguredBrokers,
  registry: SinkRegistry = SINKS,
  formats: Formats = new Formats(),
): RoutesSpec {
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
  const document = loadYaml().parseDocument(text);
  const syntaxError = document.errors[0];
  if (syntaxError) {
    const line = syntaxError.linePos?.[0].line;
    throw new RoutesFileError('', `expected YAML or JSON${line ? `, syntax error on line ${line}` : ''}`);
  }
  return parseRoutes(document.toJS() as unknown, brokers, registry, formats);
}

/** Validates a parsed routes document. Pure; throws RoutesFileError on the first mistake. */
export function parseRoutes(
  document: unknown,
  brokers: ConfiguredBrokers,
  registry: SinkRegistry = SINKS,
  formats: Formats = new Formats(),
): RoutesSpec {
  const parsed = routesFile(registry, formats).safeParse(document ?? {});
  if (!parsed.success) {
    const issue = mostSpecific(parsed.error.issues);
    throw new RoutesFileError(describePath(document, issue.path), describeIssue(issue));
  }
  const spec = parsed.data;
  const unconfigured = (list: readonly DestinationSpec[], where: string): void => {
    list.forEach((destination, index) => {
      const sink = registry.find(({ name }) => name in destination)!;
      if (!brokers[sink.name]) {
        throw new RoutesFileError(
          `${where}.destinations[${index}].${sink.name}`,
          `${sink.variable} is not set: configure the broker or remove this destination`,
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

/** `routes[1] (aggregateType "user").destinations[0].<broker>.<field>` */
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
