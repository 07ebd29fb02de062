// The message formats a sink can write. One so far; a format is one module and one line here.
import type { MessageFormat } from './format.js';
import { nativeFormat } from './native.js';

export const FORMATS: ReadonlyMap<string, MessageFormat> = new Map([[nativeFormat.name, nativeFormat]]);

/** The format messages are written in unless a sink is told otherwise. */
export const DEFAULT_FORMAT: MessageFormat = nativeFormat;

/** The format called `name`; throws naming the known ones. */
export function formatNamed(name: string): MessageFormat {
  const format = FORMATS.get(name);
  if (!format)
    throw new Error(
      `unknown message format ${JSON.stringify(name)} (expected one of ${[...FORMATS.keys()].join(', ')})`,
    );
  return format;
}
