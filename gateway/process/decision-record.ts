import type { Exchange } from '../http/exchange.js';
import type { AuditLog } from './audit-log.js';
import type { GatewayMetrics } from './metrics.js';

/**
 * What a proxied request's decision feeds once it is over: the request counter, the
 * rate-limit counter, and (when auditing is on) one audit record. Nothing is built for a sink
 * that is off.
 */
export function recordDecisions(sinks: { metrics: GatewayMetrics; audit: AuditLog | undefined }): (exchange: Exchange, status: number) => void {
  const { metrics, audit } = sinks;
  return (exchange, status) => {
    const decision = exchange.decision ?? 'error';
    metrics.requests.inc({ decision, status: String(status) });
    if (status === 429) metrics.rateLimited.inc({ limit: 'per_client' });
    if (!audit) return;
    const claims = exchange.claims;
    audit.write({
      time: new Date().toISOString(),
      request_id: exchange.requestId,
      client_id: claims?.client_id,
      sub: claims?.sub,
      fhirUser: claims?.fhirUser,
      patient: claims?.patient,
      method: exchange.req.method ?? 'GET',
      interaction: exchange.interaction,
      resource_type: exchange.resourceType,
      resource_id: exchange.resourceId,
      decision,
      reason: exchange.reason ?? '',
      upstream_status: decision === 'allow' ? status : undefined,
      status,
      latency_ms: exchange.elapsedMs(),
    });
  };
}
