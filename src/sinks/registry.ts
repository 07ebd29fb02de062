// The brokers the relay can publish to. Config, the routes file, the router and publisher.ts know brokers
// only through this list: adding one is a module exporting a SinkDescriptor and a line here.
// The descriptors load no driver: a broker's driver loads when its sink is created.
import { kafka } from './kafka.js';
import { rabbitmq } from './rabbitmq.js';
import type { AnySinkDescriptor, ResolvedDestination, SinkName } from './sink.js';

/** In order of preference: without a routes file, events go to the first broker configured. */
export const SINKS = [kafka, rabbitmq] as const satisfies readonly AnySinkDescriptor[];

/** A list of brokers; tests pass their own to parse config and routes with a test broker. */
export type SinkRegistry = readonly AnySinkDescriptor[];

type Registered = (typeof SINKS)[number];
type SettingsOf<D> = D extends { settings(env: never): infer S } ? Exclude<S, undefined> : never;

/** Each configured broker's settings by name (absent: not configured). */
export type SinkSettings = { readonly [D in Registered as D['name']]?: SettingsOf<D> } & Readonly<
  Record<SinkName, unknown>
>;

export function sinkNamed(name: SinkName, registry: SinkRegistry = SINKS): AnySinkDescriptor {
  const descriptor = registry.find((candidate) => candidate.name === name);
  if (!descriptor) throw new Error(`no broker called ${JSON.stringify(name)}`);
  return descriptor;
}

/** Whether each broker of the registry is configured: the routes file's check. */
export function configuredSinks(
  settings: Readonly<Record<SinkName, unknown>>,
  registry: SinkRegistry = SINKS,
): Record<SinkName, boolean> {
  return Object.fromEntries(registry.map(({ name }) => [name, settings[name] !== undefined]));
}

/** The destination as the dead-letter table names it (`kafka:orders`, `rabbitmq:users/user.Renamed`). */
export function describeDestination(
  destination: ResolvedDestination,
  registry: SinkRegistry = SINKS,
): string {
  const descriptor = registry.find((candidate) => candidate.name === destination.sink);
  return descriptor ? descriptor.describe(destination) : `${destination.sink}:${destination.label}`;
}
