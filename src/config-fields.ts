// The pieces configuration schemas are made of, shared by src/config.ts and the sinks' own sections
// (src/sinks/*): field validators whose messages say what is expected, and the error naming the field.
import { existsSync, statSync } from 'node:fs';
import { z } from 'zod';

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
