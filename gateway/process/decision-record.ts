import type { Exchange } from '../http/exchange.js';
import type { AuditLog, AuditRecord } from './audit-log.js';
import type { AuditEventSender } from './audit/audit-event-sender.js';
import { toBalpAuditEvent, type AuditEventSourceInfo } from './audit/balp-audit-event.js';
import type { GatewayMetrics } from './metrics.js';

/** Where the FHIR AuditEvents go (audit.fhir), and who records them. */
export interface AuditEventSink {
  sender: Pick<AuditEventSender, 'enqueue'>;
  /** The gateway as the AuditEvents' source, as of now (the public URL may change on reload). */
  source: () => AuditEventSourceInfo;
}

interface DecisionSinks {
  metrics: GatewayMetrics;
  /** The JSON audit lines (audit.enabled). */
  audit: AuditLog | undefined;
  /** The FHIR AuditEvents (audit.fhir). */
  auditEvents?: AuditEventSink | undefined;
}

/**
 * What a proxied request's decision feeds once it is over: the request counter, the
 * rate-limit counter, and (when they are on) one audit line and one FHIR AuditEvent. Nothing
 * is built for a sink that is off.
 */
export function recordDecisions(sinks: DecisionSinks): (exchange: Exchange, status: number) => void {
  const { metrics, audit, auditEvents } = sinks;
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
    if (!audit && !auditEvents) return;
    const claims = exchange.claims;
    const record: AuditRecord = {
      time: new Date().toISOString(),
      request_id: exchange.requestId,
      client_id: claims?.client_id,
      sub: claims?.sub,
      fhirUser: claims?.fhirUser,
      patient: claims?.patient,
      method: exchange.req.method ?? 'GET',
      interaction: exchange.interaction,
      resource_type: exchange.resourceType,
      resource_id: exchange.resourceId ?? createdId(exchange, decision, status),
      decision,
      reason: exchange.reason ?? '',
      upstream_status: decision === 'allow' ? status : undefined,
      status,
      latency_ms: exchange.elapsedMs(),
    };
    audit?.write(record);
    if (auditEvents) {
      // Synchronous hand-over to the sender's buffer: never waits for the store or the endpoint.
      auditEvents.sender.enqueue(toBalpAuditEvent({ ...record, query: exchange.search, client_ip: exchange.clientIp }, auditEvents.source()));
    }
  };
}

const CREATES: ReadonlySet<string> = new Set(['create', 'conditional-create']);
/** `.../Type/id` or `.../Type/id/_history/vid` at the end of a Location (R4 3.1.0.8.1). */
const CREATED_LOCATION = /\/([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?\/?$/;

/**
 * The id the upstream gave a resource the client created, from the Location header of its
 * answer (which the client received too). Only for an allowed create that succeeded, and only
 * when the Location names a resource of the created type.
 */
function createdId(exchange: Exchange, decision: string, status: number): string | undefined {
  if (decision !== 'allow' || status < 200 || status >= 300 || !CREATES.has(exchange.interaction ?? '')) return undefined;
  const location = exchange.res.getHeader('location');
  if (typeof location !== 'string') return undefined;
  let path: string;
  try {
    path = new URL(location, 'http://relative.invalid').pathname;
  } catch {
    return undefined;
  }
  const match = CREATED_LOCATION.exec(path);
  return match && match[1] === exchange.resourceType ? match[2] : undefined;
}
