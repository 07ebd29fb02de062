import { pino } from 'pino';
import type { Logger } from 'pino';

/** pino's levels, and `silent`: LOG_LEVEL's values. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type { Logger };

/** The most recent warning or error the relay logged, for `outbox-relay status` (slot-monitor.ts). */
export interface LastProblem {
  readonly message: string;
  readonly at: Date;
}

const problems = new WeakMap<Logger, { last: LastProblem | undefined }>();
const WARN = 40;

/**
 * JSON lines on stdout (or on `destination`, e.g. a test's own stream). Connection strings and
 * credentials are never logged as they are.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  const state: { last: LastProblem | undefined } = { last: undefined };
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'outbox-relay' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['password', '*.password', 'sasl', '*.sasl', 'connectionString', '*.connectionString'],
      censor: '[redacted]',
    },
    formatters: { level: (label) => ({ level: label }) },
    hooks: {
      // Children (sinks) inherit the hook, so every warning the relay logs is seen here (at
      // LOG_LEVEL=error only errors are, since pino skips the levels it filters out).
      logMethod(args, method, methodLevel) {
        if (methodLevel >= WARN) state.last = { message: describeProblem(args), at: new Date() };
        method.apply(this, args);
      },
    },
  };
  const logger = destination ? pino(options, destination) : pino(options);
  problems.set(logger, state);
  return logger;
}

/** The last warning or error logged through `logger` (made by createLogger) or its children. */
export function lastProblem(logger: Logger): LastProblem | undefined {
  return problems.get(logger)?.last;
}

/** "message: error message", from a pino call's arguments ([object,] message). */
export function describeProblem(args: readonly unknown[]): string {
  const [first, second] = args;
  const message = typeof first === 'string' ? first : typeof second === 'string' ? second : 'error';
  const err = typeof first === 'object' && first !== null ? (first as { err?: unknown }).err : undefined;
  const detail = err instanceof Error ? err.message : typeof err === 'string' ? err : undefined;
  return redactUrl(detail ? `${message}: ${detail}` : message).slice(0, 1000);
}

/** Removes the password from a URL (the database's, a broker's) before it is shown anywhere. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/g, '$1***@');
}
