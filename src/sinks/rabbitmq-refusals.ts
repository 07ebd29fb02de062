// Which answers of RabbitMQ refuse a message for good, decided by AMQP reply code, never by the
// reply text (only quoted in the errors). The codes are AMQP 0-9-1's constants:
// https://www.rabbitmq.com/amqp-0-9-1-reference#constants
// Pure: the sink (rabbitmq-sink.ts) turns the refusals into dead letters and retries everything else.
import { errorMessage } from '../errors.js';
import type { ExchangeType } from './rabbitmq-destination.js';
import { UndeliverableError } from './sink.js';

/**
 * The refusals for good: what the broker answered and its reply code -> the dead-letter reason (a
 * metric label). Any other code is retried: 320 CONNECTION_FORCED, 541 INTERNAL_ERROR, or the 404
 * that closes the publishing channel when its exchange was deleted (the sink reconnects and checks
 * the exchange again, and that check refuses it).
 */
export const AMQP_REFUSALS = {
  /** exchange.declare (assert) or its passive form (check), on a channel of its own. */
  exchange: {
    403: 'access_refused', // ACCESS_REFUSED: no configure (or read) permission on it
    404: 'exchange_not_found', // NOT_FOUND: a check of an exchange that does not exist
    406: 'exchange_mismatch', // PRECONDITION_FAILED: it exists with another type or durability
  },
  /** The broker closed the publishing channel. */
  publish: {
    // PRECONDITION_FAILED: a body above max_message_size (the relay sets no other property it checks).
    406: 'too_large',
  },
  /** basic.return of a mandatory message, before its ack. */
  return: {
    312: 'unroutable', // NO_ROUTE: no queue bound for its routing key
  },
} as const satisfies Readonly<Record<string, Readonly<Record<number, string>>>>;

export type AmqpAnswer = keyof typeof AMQP_REFUSALS;
type ReasonOf<Answer extends AmqpAnswer> =
  (typeof AMQP_REFUSALS)[Answer][keyof (typeof AMQP_REFUSALS)[Answer]];

/** The AMQP reply code amqplib puts on a channel or connection closed by the broker, if any. */
export function replyCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The dead-letter reason the broker's reply code means for this answer; undefined: retry. */
export function refusalReason<Answer extends AmqpAnswer>(
  answer: Answer,
  code: number | undefined,
): ReasonOf<Answer> | undefined {
  if (code === undefined) return undefined;
  const reasons: Readonly<Record<number, string>> = AMQP_REFUSALS[answer];
  return reasons[code] as ReasonOf<Answer> | undefined;
}

/** Why a declaration or check of an exchange failed, when that is the exchange's fault. */
export function exchangeRefusal(
  error: unknown,
  exchange: string,
  assertExchange: ExchangeType | undefined,
): UndeliverableError | undefined {
  const reason = refusalReason('exchange', replyCode(error));
  if (reason === undefined) return undefined;
  const detail = errorMessage(error);
  const message = {
    exchange_not_found: `exchange "${exchange}" does not exist: declare it or set assert: true on its route`,
    exchange_mismatch: `exchange "${exchange}" exists with other properties than a durable ${assertExchange ?? ''} exchange: ${detail}`,
    access_refused: `access to exchange "${exchange}" refused: ${detail}`,
  }[reason];
  return new UndeliverableError(message, reason, { cause: error });
}

/** A mandatory message the broker gave back with this reply code; undefined: send it again. */
export function returnRefusal(
  code: number,
  { exchange, routingKey }: { readonly exchange: string; readonly routingKey: string },
): UndeliverableError | undefined {
  const reason = refusalReason('return', code);
  if (reason === undefined) return undefined;
  return new UndeliverableError(
    `unroutable: no queue bound to exchange "${exchange}" for routing key "${routingKey}"`,
    reason,
  );
}

export function tooLarge(size: number, limit: number, exchange: string): UndeliverableError {
  return new UndeliverableError(
    `message of ${size} bytes exceeds the ${limit}-byte limit for exchange "${exchange}"`,
    'too_large',
  );
}

/** Headers that do not fit amqplib's encoding buffer: it refuses them before sending anything. */
export function unencodable(error: RangeError): UndeliverableError {
  return new UndeliverableError(`rabbitmq cannot encode the message: ${error.message}`, 'too_large', {
    cause: error,
  });
}

// RabbitMQ states its max_message_size only in the reply text of the 406 ("message size 8100 is
// larger than configured max size 4096"): the code decides, the number is read from the text.
const STATED_LIMIT = /larger than (?:configured )?max size (\d+)/;

/**
 * The broker's max_message_size, when it closed the publishing channel over a larger body and said
 * its limit; undefined for any other loss (which is retried like any other).
 */
export function sizeLimitOf(error: unknown): number | undefined {
  if (refusalReason('publish', replyCode(error)) !== 'too_large') return undefined;
  const stated = STATED_LIMIT.exec(errorMessage(error));
  return stated ? Number(stated[1]) : undefined;
}
