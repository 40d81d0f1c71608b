import pino, { type Logger } from 'pino';
import { fixedLogLine } from './fixed-log-line.js';
import { logDestination } from './log-destination.js';

/**
 * One line per access decision, answering "who read this patient's record, and was it
 * allowed?". Written to its own destination, apart from the operational log. It never holds
 * a token, secret, password, query string or resource body: only identifiers.
 */
export interface AuditRecord {
  time: string;
  request_id?: string;
  client_id?: string;
  sub?: string;
  fhirUser?: string;
  patient?: string;
  method: string;
  interaction?: string;
  resource_type?: string;
  resource_id?: string;
  decision: 'allow' | 'deny' | 'error';
  reason: string;
  upstream_status?: number;
  status: number;
  latency_ms: number;
}

export interface AuditLog {
  write(record: AuditRecord): void;
  flush(): void;
}

/** `destination`: "stdout", "stderr" or a file path (appended to; created if absent). */
export function createAuditLog(destination: string): AuditLog {
  const dest = logDestination(destination);
  const logger: Logger = pino({ base: { log: 'audit' }, timestamp: false, messageKey: 'event' }, dest.stream);
  // One line per proxied request: the fixed-shape writer, not pino's generic serializer.
  const line = fixedLogLine(logger, 'fhir-access');
  return {
    write(record) {
      line(record);
    },
    flush() {
      dest.flushSync();
    },
  };
}

