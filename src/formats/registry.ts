// The message formats a route can name. Config, the routes file and the router know formats only
// through this list: adding one is a module exporting a FormatDescriptor and a line here.
import { avro } from './avro.js';
import { cloudevents, cloudeventsStructured } from './cloudevents.js';
import { debezium } from './debezium.js';
import type { AnyFormatDescriptor, FormatSettings, MessageFormat } from './format.js';
import { jsonSchema } from './json-schema.js';
import { native, nativeFormat } from './native.js';
import { protobufFormat } from './protobuf.js';

/** The first is the default (OUTBOX_FORMAT's). */
export const FORMATS = [
  native,
  cloudevents,
  cloudeventsStructured,
  debezium,
  avro,
  protobufFormat,
  jsonSchema,
] as const satisfies readonly AnyFormatDescriptor[];

/** A list of formats; tests pass their own to parse routes with a test format. */
export type FormatRegistry = readonly AnyFormatDescriptor[];

/** The names OUTBOX_FORMAT accepts, in registry order. */
export const FORMAT_NAMES = FORMATS.map(({ name }) => name);

/** The format messages are written in when neither a route nor OUTBOX_FORMAT names another. */
export const DEFAULT_FORMAT: MessageFormat = nativeFormat;

/** A route's `format` as the routes file writes it: a name, or `{ <name>: { options } }`. */
export type FormatSpec = string | Readonly<Record<string, unknown>>;

/** Settings for formats made outside a relay (tests, tools): OUTBOX_TABLE's default table. */
export const DEFAULT_FORMAT_SETTINGS: FormatSettings = {
  database: 'postgres',
  table: 'public.outbox',
  cloudEventsSource: undefined,
};

export function formatDescriptorNamed(name: string, registry: FormatRegistry = FORMATS): AnyFormatDescriptor {
  const descriptor = registry.find((candidate) => candidate.name === name);
  if (!descriptor)
    throw new Error(
      `unknown message format ${JSON.stringify(name)} (expected one of ${registry.map((f) => f.name).join(', ')})`,
    );
  return descriptor;
}

/**
 * The formats of one relay, made from its settings: `default` (OUTBOX_FORMAT's) for routes that
 * name none, and one instance per distinct spelling a route uses.
 */
export class Formats {
  readonly default: MessageFormat;
  private readonly made = new Map<string, MessageFormat>();

  constructor(
    private readonly settings: FormatSettings = DEFAULT_FORMAT_SETTINGS,
    defaultName: string = DEFAULT_FORMAT.name,
    readonly registry: FormatRegistry = FORMATS,
  ) {
    this.default = this.get(defaultName);
  }

  /** The format `spec` names (already validated by the routes file); throws on an unknown name. */
  get(spec: FormatSpec): MessageFormat {
    const key = JSON.stringify(spec);
    let format = this.made.get(key);
    if (!format) {
      const [name, options] = typeof spec === 'string' ? [spec, undefined] : Object.entries(spec)[0]!;
      format = formatDescriptorNamed(name, this.registry).create(this.settings, options);
      this.made.set(key, format);
    }
    return format;
  }
}
