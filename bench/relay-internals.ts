// The one place the bench reaches past outbox-relay's public API (src/index.ts). The polling baseline
// (poller.ts) publishes through the relay's own sink, router and row decoding, so that it differs
// from the relay only in how it finds events; raw-publish.ts --our-encoder installs the Kafka sink's
// record encoder into a bare kafkajs. None of these is exported by the package; if the package ever
// exports them, import them from src/index.ts and delete this file. ESLint allows ../src/ imports in
// bench/ only here and for src/index.ts.
export { createLogger } from '../src/observability/logger.js';
export { createMetrics } from '../src/observability/metrics.js';
export { Router } from '../src/routing/router.js';
export { createSink, routesOf } from '../src/run.js';
export { installRecordEncoder } from '../src/sinks/kafkajs-record.js';
export { rowToEvent } from '../src/wal/decode.js';
