// kafkajs' errors and log lines, as the Kafka sinks (kafka-sink.ts, kafka-transactional-sink.ts) read
// them: a refusal of one message, a fenced producer, and which log lines are worth a warning.
import { logLevel } from 'kafkajs';
import type { LogEntry } from 'kafkajs';
import type { Logger } from 'pino';

// Errors that concern one message rather than the cluster's health.
const MESSAGE_ERRORS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED',
  'CORRUPT_MESSAGE',
  // Only reported once kafkajs' own retries gave a new topic's metadata time to spread.
  'UNKNOWN_TOPIC_OR_PARTITION',
]);

/** A refusal of the message itself, as opposed to a failure of the cluster or the network. */
export function messageRefusal(error: unknown): { message: string; reason: string } | undefined {
  for (let cause: unknown = error; cause instanceof Error; cause = causeOf(cause)) {
    const type = (cause as { type?: unknown }).type;
    if (typeof type === 'string' && MESSAGE_ERRORS.has(type)) {
      return { message: `kafka refused the message: ${type}: ${cause.message}`, reason: type.toLowerCase() };
    }
  }
  return undefined;
}

function causeOf(error: Error): unknown {
  return (error as { originalError?: unknown }).originalError ?? error.cause;
}

// Our own retry loop sits around kafkajs' short one, which kafkajs warns about at every start.
const EXPECTED_WARNINGS = /Limiting retries for the idempotent producer/;
// kafkajs logs each error response of a request it then retries ("Response InitProducerId(...)":
// "the coordinator is loading" right after a broker starts). Whether the retries failed in the end
// is the relay's to say ("publish failed, retrying"), so these are debug detail; so is a send answered
// CONCURRENT_TRANSACTIONS just after a commit (kafka-transactions.ts).
const RETRIED_RESPONSE = /^Response |concurrent operation on the same transaction/;

export function logKafkajs(log: Logger, { level, log: entry }: LogEntry): void {
  const { message, ...rest } = entry;
  if (EXPECTED_WARNINGS.test(message)) return;
  if (RETRIED_RESPONSE.test(message)) log.debug(rest, `kafkajs: ${message}`);
  else if (level <= logLevel.ERROR) log.error(rest, `kafkajs: ${message}`);
  else if (level === logLevel.WARN) log.warn(rest, `kafkajs: ${message}`);
  else log.debug(rest, `kafkajs: ${message}`);
}

// The transaction coordinator saw a newer producer with our transactional id (another instance took
// over the slot), or expired our transaction: nothing this producer sends can commit any more.
const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']);
const PRODUCER_FENCED_CODE = 90;

export function isFenced(error: unknown): boolean {
  for (let cause: unknown = error; cause instanceof Error; cause = causeOf(cause)) {
    const { type, code } = cause as { type?: unknown; code?: unknown };
    if ((typeof type === 'string' && FENCED.has(type)) || code === PRODUCER_FENCED_CODE) return true;
  }
  return false;
}
