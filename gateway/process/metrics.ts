import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of one gateway process. A registry per gateway (not prom-client's global
 * one), so several gateways in one test process never share counters.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'fhirgw_requests_total',
    help: 'FHIR requests by access decision and response status',
    labelNames: ['decision', 'status'] as const,
    registers: [this.registry],
  });
  readonly upstreamDuration = new Histogram({
    name: 'fhirgw_upstream_duration_seconds',
    help: 'Time from forwarding a request to the end of the upstream response',
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly tokensIssued = new Counter({
    name: 'fhirgw_tokens_issued_total',
    help: 'Access tokens issued by grant type',
    labelNames: ['grant_type'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'fhirgw_rate_limit_rejections_total',
    help: 'Requests refused with 429, by limit',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  readonly upstreamTokenRequests = new Counter({
    name: 'fhirgw_upstream_token_requests_total',
    help: 'Requests for the gateway\'s own upstream tokens (upstream.auth), by auth type, outcome and failure (empty when ok)',
    labelNames: ['kind', 'outcome', 'failure'] as const,
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'fhirgw_store_errors_total',
    help: 'Store operations that failed (Redis unreachable, timeouts)',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  readonly storeDuration = new Histogram({
    name: 'fhirgw_store_duration_seconds',
    help: 'Latency of store operations',
    labelNames: ['operation'] as const,
    buckets: [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'fhirgw_' });
  }
}
