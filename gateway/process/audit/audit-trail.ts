import type { Registry } from 'prom-client';
import type { AuditFhirConfig, GatewayConfig } from '../../../config/types.js';
import type { QueueOperations } from '../../../authz/store.js';
import type { AuditEventSink } from '../decision-record.js';
import { createAuditEndpoint } from './audit-endpoint.js';
import { AuditEventSender, type AuditSenderLog } from './audit-event-sender.js';
import { auditSenderMetrics } from './audit-metrics.js';

export interface AuditTrail {
  /** What recordDecisions hands each decision to; what it gets before start() waits in the sender's buffer. */
  sink: AuditEventSink;
  /** Starts sending (once the store is reachable: a drain before that would only fail). */
  start(): void;
  /**
   * Sends what it can within `withinMs` (the store queue keeps the rest), then closes the
   * endpoint's connections. Call after the HTTP server drained and before the store closes.
   */
  stop(withinMs: number): Promise<void>;
}

interface AuditTrailOptions {
  config: Pick<GatewayConfig, 'source' | 'upstream'> & { audit: { fhir: AuditFhirConfig } };
  /** The gateway's (instrumented) store: the queue lives there. */
  store: QueueOperations;
  /** The gateway's metrics registry: the sender's counters go there. */
  registry: Registry;
  log: AuditSenderLog;
  /** The gateway's public URL as of now (it may change on reload). */
  publicUrl: () => string;
}

/**
 * `audit.fhir` wired: the endpoint (url, credentials, TLS), the sender with its store queue and
 * metrics. Throws a ConfigError when a file the endpoint's credentials or TLS need is unusable.
 */
export function createAuditTrail(options: AuditTrailOptions): AuditTrail {
  const { config, log } = options;
  const fhir = config.audit.fhir;
  const endpoint = createAuditEndpoint(config, log);
  const sender = new AuditEventSender({
    store: options.store,
    url: endpoint.url,
    batchSize: fhir.batch_size,
    flushIntervalMs: fhir.flush_interval * 1000,
    queueLimit: fhir.queue_limit,
    authorize: () => endpoint.credentials.authorize(),
    // Only a token can be renewed: a fixed header or Basic refused stays refused until the config changes.
    ...(endpoint.credentials.renewable ? { refused: (rejected: Readonly<Record<string, string>>) => endpoint.credentials.refused(rejected) } : {}),
    dispatcher: endpoint.dispatcher,
    hooks: auditSenderMetrics(options.registry),
    log,
  });
  log.info(
    { endpoint: new URL(endpoint.url).origin, credentials: endpoint.credentialsFrom, batch_size: fhir.batch_size, queue_limit: fhir.queue_limit },
    'FHIR AuditEvents are recorded and sent to audit.fhir.url',
  );
  const { absoluteReferences } = endpoint;
  return {
    sink: {
      sender,
      source: () => {
        const publicUrl = options.publicUrl();
        return absoluteReferences ? { publicUrl, referenceBase: publicUrl } : { publicUrl };
      },
    },
    start: () => sender.start(),
    async stop(withinMs) {
      try {
        await sender.stop(withinMs);
      } finally {
        await endpoint.close();
      }
    },
  };
}
