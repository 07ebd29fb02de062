// Libraries that only some configurations use (avsc, protobufjs and ajv for the schema'd formats,
// yaml for a routes file, jsonc-parser for the debezium format's expanded payloads) are loaded the
// first time they are needed rather than when the relay starts: loading them took about a third of
// the time Node.js spends importing the relay (~80 of ~280 ms here), for nothing in most setups.
// All of them ship CommonJS, so the first use can load them synchronously.
import { createRequire } from 'node:module';

const requireModule = createRequire(import.meta.url);

/** A function returning the package `name`, loaded on its first call. */
export function lazyModule<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireModule(name) as T);
}
