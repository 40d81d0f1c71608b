import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Store } from '../../authz/store.js';
import type { UpstreamReadiness } from '../upstream/upstream-client.js';
import type { GatewayMetrics } from './metrics.js';

/** The operators' endpoints: liveness, readiness and metrics. Never proxied, rate limited or logged as FHIR access. */
const OPERATIONS_PATHS = ['/healthz', '/readyz', '/metrics'] as const;

export function isOperationsPath(path: string): boolean {
  return (OPERATIONS_PATHS as readonly string[]).includes(path);
}

export interface ReadinessReport {
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

export interface OperationsDeps {
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
export type OperationsHandler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;

export function operationsEndpoints(deps: OperationsDeps): OperationsHandler {
  return async (req, res, path) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' }, { Allow: 'GET, HEAD' });
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const report = await readiness(deps);
      return sendJson(res, report.ready ? 200 : 503, report);
    }
    return sendText(res, 200, await deps.metrics.registry.metrics(), deps.metrics.registry.contentType);
  };
}

/** What /readyz answers: the store and the upstream answer, and the gateway is neither starting nor draining. */
export async function readiness(deps: Omit<OperationsDeps, 'metrics'>): Promise<ReadinessReport> {
  const [store, upstream] = await Promise.all([storeReachable(deps.store(), 1000), deps.upstreamReadiness(1000)]);
  const started = deps.started();
  const draining = deps.draining();
  return {
    ready: store && upstream.ok && started && !draining,
    ...(started ? {} : { starting: true }),
    store: store ? 'ok' : 'unreachable',
    ...(upstream.ok ? { upstream: 'ok' } : { upstream: upstream.problem, upstream_reason: upstream.reason }),
    ...(draining ? { draining: true } : {}),
  };
}

/**
 * The admin listener's request handler (server.admin_port): the operations paths and nothing
 * else, so the port can be opened to monitoring without exposing anything of the gateway.
 */
export function adminRequestListener(operations: OperationsHandler, log: { error(obj: object, msg: string): void }): RequestListener {
  return (req, res) => {
    // As the front door does for the public port: no answer is to be sniffed as HTML or script.
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!isOperationsPath(path)) return sendJson(res, 404, { error: 'not found', paths: OPERATIONS_PATHS });
    operations(req, res, path).catch((err: unknown) => {
      log.error({ err }, 'operations endpoint failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  };
}

export function sendText(res: ServerResponse, status: number, text: string, contentType: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
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
