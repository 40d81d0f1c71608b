import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Store } from '../../authz/store.js';
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
  upstream: 'ok' | 'unreachable';
  draining?: boolean;
}

interface OperationsDeps {
  store: () => Store;
  upstreamUrl: () => string;
  metrics: GatewayMetrics;
  draining: () => boolean;
  /** False while the gateway is still starting (gateway/process/startup.ts). */
  started: () => boolean;
}

/**
 * /healthz: the process is alive (for restarts). /readyz: the store and the upstream answer
 * and the gateway is neither starting nor draining (for load balancers). /metrics: Prometheus.
 */
export function operationsEndpoints(deps: OperationsDeps): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void> {
  return async (req, res, path) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' }, { Allow: 'GET, HEAD' });
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const [store, upstream] = await Promise.all([storeReachable(deps.store(), 1000), probeUpstream(deps.upstreamUrl(), 1000)]);
      const started = deps.started();
      const draining = deps.draining();
      const report: ReadinessReport = {
        ready: store && upstream && started && !draining,
        ...(started ? {} : { starting: true }),
        store: store ? 'ok' : 'unreachable',
        upstream: upstream ? 'ok' : 'unreachable',
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

/** Any HTTP answer from the upstream means it is reachable; its status is the FHIR server's business. */
function probeUpstream(baseUrl: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const url = new URL(baseUrl + '/metadata');
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method: 'HEAD', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
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
