// The pieces configuration schemas are made of, shared by src/config.ts and the sinks' own sections
// (src/sinks/*): field validators whose messages say what is expected, and the error naming the field.
import { existsSync, statSync } from 'node:fs';
import * as z from 'zod';

/**
 * One environment variable: its schema over the raw text (with its default, if it has one) and a
 * one-line doc, which its row in docs/configuration.md contains (test/repo/config-reference.test.ts).
 */
export interface EnvSetting {
  readonly doc: string;
  readonly schema: z.ZodType<unknown, string | undefined>;
}

/** Variables by name, in documentation and validation order. */
export type EnvSettings = Readonly<Record<string, EnvSetting>>;

/** The validated values of some settings, by variable name. */
export type EnvValues<Settings extends EnvSettings> = {
  readonly [Variable in keyof Settings]: z.output<Settings[Variable]['schema']>;
};

/** The zod shape that validates these settings. */
export function envShape(settings: EnvSettings): Record<string, EnvSetting['schema']> {
  return Object.fromEntries(Object.entries(settings).map(([variable, { schema }]) => [variable, schema]));
}

/** The default a setting's schema applies, as text; undefined when it has none (required or unset). */
export function defaultText(schema: z.core.$ZodType): string | undefined {
  if (schema instanceof z.ZodDefault) return String(schema.def.defaultValue);
  // A default followed by a transform (`.default(x).transform(f)`) sits at the pipe's input.
  if (schema instanceof z.ZodPipe) return defaultText(schema.in);
  return undefined;
}

export class ConfigError extends Error {
  constructor(
    readonly field: string,
    expected: string,
  ) {
    super(`${field}: ${expected}`);
    this.name = 'ConfigError';
  }
}

/** Paths of PEM files, checked to exist when the configuration is read; read by the sinks. */
export interface TlsFiles {
  readonly caFile: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
}

export const boolean = z
  .enum(['true', 'false', '1', '0'], { error: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1');

// A path to a file that must exist now: a typo is a configuration error, not a failure at first use.
export const existingFile = z
  .string()
  .refine((path) => existsSync(path) && statSync(path).isFile(), 'expected the path of an existing file')
  .optional();

export const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `expected an integer from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `expected an integer from ${min} to ${max}`);
