import pino, { type Logger } from 'pino';
import type { LoggingConfig } from '../../config/types.js';
import { logDestination } from './log-destination.js';

/**
 * JSON logs on stdout through a batched asynchronous destination (log-destination.ts: never
 * more than a quarter second behind, flushed on the way out), so logging never blocks the event
 * loop. Redaction is a second line of defence: code never puts secrets in log objects.
 */
export function createLogger(config: LoggingConfig, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level: config.level,
      base: { service: 'fhir-oauth-gateway' },
      redact: {
        paths: ['*.authorization', '*.password', '*.client_secret', '*.access_token', '*.refresh_token', '*.token', '*.code'],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? logDestination('stdout').stream,
  );
}
