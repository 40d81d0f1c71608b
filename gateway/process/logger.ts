import pino, { type Logger } from 'pino';
import type { LoggingConfig } from '../../config/types.js';

/**
 * JSON logs on stdout through an asynchronous destination so logging never blocks the event
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
    destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }),
  );
}
