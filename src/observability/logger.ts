import { pino } from 'pino';
import type { Logger } from 'pino';
import type { LogLevel } from '../config.js';

export type { Logger };

/** JSON lines on stdout. Connection strings and credentials are never logged as they are. */
export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    base: { service: 'outbox-relay' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['password', '*.password', 'sasl', '*.sasl', 'connectionString', '*.connectionString'],
      censor: '[redacted]',
    },
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** Removes the password from a URL (postgres://, amqp://) before it is shown anywhere. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}
