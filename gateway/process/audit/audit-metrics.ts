import { Counter, Gauge, type Registry } from 'prom-client';
import type { AuditSenderHooks } from './audit-event-sender.js';

/**
 * The AuditEvent sender's counts as Prometheus metrics, in the gateway's registry
 * (GatewayMetrics.registry):
 *   fhirgw_audit_events_sent_total                 accepted by the endpoint
 *   fhirgw_audit_events_failed_total{reason}       a step failed, the events are kept and retried
 *                                                  (endpoint | store)
 *   fhirgw_audit_events_dropped_total{reason}      given up (queue_full | buffer_full | rejected |
 *                                                  unreadable | stopped)
 *   fhirgw_audit_queue_length                      waiting in the store queue, as last seen
 * Alert on dropped rising: that is audit data lost.
 */
export function auditSenderMetrics(registry: Registry): AuditSenderHooks {
  const sent = new Counter({ name: 'fhirgw_audit_events_sent_total', help: 'AuditEvents accepted by the AuditEvent endpoint', registers: [registry] });
  const failed = new Counter({
    name: 'fhirgw_audit_events_failed_total',
    help: 'AuditEvents a delivery step failed for (kept and tried again), by what failed',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'fhirgw_audit_events_dropped_total',
    help: 'AuditEvents given up, by why (queue_full: oldest pushed out by audit.fhir.queue_limit)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const queueLength = new Gauge({
    name: 'fhirgw_audit_queue_length',
    help: 'AuditEvents waiting in the store queue, as last seen',
    registers: [registry],
    // Workers share one queue (in Redis): summed over the cluster it would count it once per worker.
    aggregator: 'max',
  });
  return {
    sent: (count) => sent.inc(count),
    failed: (count, reason) => failed.inc({ reason }, count),
    dropped: (count, reason) => dropped.inc({ reason }, count),
    queueLength: (length) => queueLength.set(length),
  };
}
