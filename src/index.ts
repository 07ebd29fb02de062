// The library: the drizzle tables and the application-side API, plus the relay for embedding.
export { outbox, outboxDeadLetter, outboxRelaySlot } from './schema.js';
export { defineEvents, enqueue, enqueueMany, OutboxEventError } from './enqueue.js';
export type { EventShape, OutboxEventInput, OutboxExecutor } from './enqueue.js';
export { loadConfig, ConfigError } from './config.js';
export type { Config } from './config.js';
export { migrateDatabase } from './migrate.js';
export { createRelay, startRelay } from './relay.js';
export type { RunningRelay } from './relay.js';
export { createPublisher } from './publisher.js';
export type { OutboxPublisher } from './publisher.js';
export { UndeliverableError } from './sinks/sink.js';
export type { OutboxEvent } from './wal/event.js';
