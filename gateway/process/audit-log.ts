import pino, { type Logger } from 'pino';

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
  const dest =
    destination === 'stdout'
      ? pino.destination({ dest: 1, sync: false, minLength: 4096 })
      : destination === 'stderr'
        ? pino.destination({ dest: 2, sync: false })
        : pino.destination({ dest: destination, sync: false, mkdir: true, minLength: 4096 });
  const logger: Logger = pino({ base: { log: 'audit' }, timestamp: false, messageKey: 'event' }, dest);
  return {
    write(record) {
      logger.info(record, 'fhir-access');
    },
    flush() {
      logger.flush();
    },
  };
}

