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
  // The labelled series, looked up once each: prom-client hashes label objects on every call otherwise.
  const requestSeries = new Map<string, ReturnType<typeof metrics.requests.labels>>();
  const perClientRefusals = metrics.rateLimited.labels('per_client');
  return (exchange, status) => {
    const decision = exchange.decision ?? 'error';
    const key = `${decision} ${status}`;
    let series = requestSeries.get(key);
    if (series === undefined) {
      series = metrics.requests.labels(decision, String(status));
      requestSeries.set(key, series);
    }
    series.inc();
    if (status === 429) perClientRefusals.inc();
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
