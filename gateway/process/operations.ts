import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Store } from '../../authz/store.js';
import type { UpstreamReadiness } from '../upstream/upstream-client.js';
import type { GatewayMetrics } from './metrics.js';

/** The operators' endpoints: liveness, readiness and metrics. Never proxied, rate limited or logged as FHIR access. */
const OPERATIONS_PATHS = ['/healthz', '/readyz', '/metrics'] as const;

export function isOperationsPath(path: string): boolean {
  return (OPERATIONS_PATHS as readonly string[]).includes(path);
}

interface ReadinessReport {
  ready: boolean;
  /** Still starting: the store has not been reached yet or the signing keys are not loaded. */
  starting?: boolean;
  store: 'ok' | 'unreachable';
  /** unreachable: no HTTP answer in time; tls: the handshake failed; credentials: no usable upstream credentials, or refused. */
  upstream: 'ok' | 'unreachable' | 'tls' | 'credentials';
  /** Why the upstream is not ok (never a secret): the certificate problem, the token endpoint's answer, ... */
  upstream_reason?: string;
  draining?: boolean;
}

interface OperationsDeps {
  store: () => Store;
  /** The probe: credentials usable and `HEAD /metadata` answered, with credentials and TLS (upstream-client.ts). */
  upstreamReadiness: (timeoutMs: number) => Promise<UpstreamReadiness>;
  metrics: GatewayMetrics;
  draining: () => boolean;
  /** False while the gateway is still starting (gateway/process/startup.ts). */
  started: () => boolean;
}

/**
 * /healthz: the process is alive (for restarts). /readyz: the store and the upstream answer (the
 * upstream with the gateway's credentials, which can be had, and over upstream.tls) and the
 * gateway is neither starting nor draining (for load balancers). /metrics: Prometheus.
 */
export function operationsEndpoints(deps: OperationsDeps): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void> {
  return async (req, res, path) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' }, { Allow: 'GET, HEAD' });
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const [store, upstream] = await Promise.all([storeReachable(deps.store(), 1000), deps.upstreamReadiness(1000)]);
      const started = deps.started();
      const draining = deps.draining();
      const report: ReadinessReport = {
        ready: store && upstream.ok && started && !draining,
        ...(started ? {} : { starting: true }),
        store: store ? 'ok' : 'unreachable',
        ...(upstream.ok ? { upstream: 'ok' } : { upstream: upstream.problem, upstream_reason: upstream.reason }),
        ...(draining ? { draining: true } : {}),
      };
      return sendJson(res, report.ready ? 200 : 503, report);
    }
    const text = await deps.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': deps.metrics.registry.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

async function storeReachable(store: Store, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([store.ping().then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
