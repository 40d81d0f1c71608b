import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Context } from 'koa';
import type { Store } from '../../authz/store.js';

export interface ReadinessReport {
  ready: boolean;
  /** Still starting: the store has not been reached yet or the signing keys are not loaded. */
  starting?: boolean;
  store: 'ok' | 'unreachable';
  upstream: 'ok' | 'unreachable';
}

/** Any HTTP answer from the upstream means it is reachable; its status is the FHIR server's business. */
export function probeUpstream(baseUrl: string, timeoutMs: number): Promise<boolean> {
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

/**
 * /healthz: the process is alive (for restarts). /readyz: the store and the upstream answer
 * (for load balancers). Neither is proxied, rate limited or logged as FHIR access.
 */
export function healthEndpoints(deps: {
  store: () => Store;
  upstreamUrl: () => string;
  draining: () => boolean;
  /** False while the gateway is still starting (gateway/startup.ts); absent = started. */
  started?: () => boolean;
}) {
  return async (ctx: Context): Promise<boolean> => {
    if (ctx.path === '/healthz') {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
      return true;
    }
    if (ctx.path === '/readyz') {
      const [store, upstream] = await Promise.all([storeReachable(deps.store(), 1000), probeUpstream(deps.upstreamUrl(), 1000)]);
      const started = deps.started?.() ?? true;
      const report: ReadinessReport = {
        ready: store && upstream && started && !deps.draining(),
        ...(started ? {} : { starting: true }),
        store: store ? 'ok' : 'unreachable',
        upstream: upstream ? 'ok' : 'unreachable',
      };
      ctx.set('Cache-Control', 'no-store');
      ctx.status = report.ready ? 200 : 503;
      ctx.body = deps.draining() ? { ...report, draining: true } : report;
      return true;
    }
    return false;
  };
}
