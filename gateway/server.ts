import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BlockList } from 'node:net';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/types.js';
import { OAUTH_PATHS } from '../authz/oauth/paths.js';
import { OAuthError } from '../authz/oauth/oauth-error.js';
import { oauthErrors } from '../authz/oauth/steps/json-errors.js';
import { oauthRouter } from '../authz/oauth/routes.js';
import { cors } from '../authz/oauth/cors.js';
import { INTERACTIVE_PATHS } from '../authz/oauth/interactive-paths.js';
import { renderErrorPage } from '../authz/oauth/pages/error-page.js';
import { securityHeaders } from '../authz/oauth/pages/layout.js';
import { buildRuntime, RuntimeHolder } from '../authz/runtime.js';
import { createTokenVerifier } from '../authz/tokens/verified-token-cache.js';
import { noAudit, type AuditLog } from './process/audit-log.js';
import { clientIp, trustedProxySet } from './process/client-ip.js';
import { fhirAccess, type AccessEvent } from './proxy/pipeline.js';
import { createHttpProxyForwarder, type Forwarder } from './upstream/forwarder.js';
import { healthEndpoints } from './process/health.js';
import { createUndiciForwarder } from './upstream/undici-forwarder.js';
import { instrumentForwarder } from './upstream/instrumented-forwarder.js';
import { instrumentStore } from './store/instrumented-store.js';
import { ipRateLimit } from '../authz/oauth/steps/ip-rate-limit.js';
import { GatewayMetrics } from './process/metrics.js';
import { sendOutcome } from './proxy/operation-outcome.js';
import { requestId } from './process/request-id.js';
import { requestLog } from './process/request-log.js';
import { PENDING_KEYS, startStoreAndKeys, type GatewayStartup } from './process/startup.js';
import type { Store } from '../authz/store.js';

export interface Gateway {
  server: Server;
  /** Where it listens, e.g. http://127.0.0.1:34567 */
  url: string;
  runtime: RuntimeHolder;
  store: Store;
  metrics: GatewayMetrics;
  /** Background start: `ready()` once the store answered and the keys are loaded. */
  startup: GatewayStartup;
  /** Swap in a new configuration (SIGHUP). Upstream, store and listener changes need a restart. */
  reload(config: GatewayConfig): Promise<void>;
  /** Stop accepting, let in-flight requests finish within the grace period, close the store. */
  close(graceSeconds?: number): Promise<void>;
}

export interface GatewayOptions {
  config: GatewayConfig;
  store: Store;
  log: Logger;
  audit?: AuditLog;
  metrics?: GatewayMetrics;
  /** Use this forwarder instead of the default http-proxy one. */
  forwarder?: Forwarder;
  /**
   * How long startGateway waits, once listening, for the store and keys before it resolves
   * anyway (not ready: 503 until the store is reached). Default 5000 ms.
   */
  readyWaitMs?: number;
}

interface AppDeps {
  runtime: RuntimeHolder;
  forwarder: Forwarder;
  log: Logger;
  metrics: GatewayMetrics;
  audit: AuditLog;
  draining: () => boolean;
  /** While starting, requests other than /healthz, /readyz and /metrics get 503. */
  startup?: Pick<GatewayStartup, 'gate' | 'ready'>;
}

/** The trusted-proxy set of the current config, rebuilt only when a reload swaps the config. */
function trustedProxiesFor(runtime: RuntimeHolder): () => BlockList | undefined {
  let builtFor: GatewayConfig | undefined;
  let set: BlockList | undefined;
  return () => {
    const config = runtime.get().config;
    if (config !== builtFor) {
      builtFor = config;
      set = config.server.trusted_proxies.length > 0 ? trustedProxySet(config.server.trusted_proxies) : undefined;
    }
    return set;
  };
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: false });
  const { runtime, log, metrics, audit } = deps;

  const oauth = oauthRouter({ runtime, log, onTokenIssued: (grantType) => metrics.tokensIssued.inc({ grant_type: grantType }) });
  const oauthRoutes = oauth.routes();
  const oauthMethods = oauth.allowedMethods({ throw: true });
  const health = healthEndpoints({
    store: () => runtime.get().store,
    upstreamUrl: () => runtime.get().config.upstream.url,
    draining: deps.draining,
    ...(deps.startup ? { started: deps.startup.ready } : {}),
  });
  const tokenRateLimit = ipRateLimit({
    name: 'ip-token',
    rule: () => runtime.get().config.rate_limits.per_ip_token,
    store: () => runtime.get().store,
    onReject: () => metrics.rateLimited.inc({ limit: 'per_ip_token' }),
  });
  const loginRateLimit = ipRateLimit({
    name: 'ip-login',
    rule: () => runtime.get().config.rate_limits.per_ip_login,
    store: () => runtime.get().store,
    onReject: () => metrics.rateLimited.inc({ limit: 'per_ip_login' }),
    refuse: (ctx, retryAfter) => {
      for (const [k, v] of Object.entries(securityHeaders())) ctx.set(k, v);
      ctx.status = 429;
      ctx.type = 'text/html';
      ctx.body = renderErrorPage({
        title: 'Too many sign-in attempts',
        message: `Too many sign-in attempts came from your network. Try again in ${retryAfter} seconds.`,
      });
    },
  });
  const fhir = fhirAccess({
    runtime,
    forwarder: deps.forwarder,
    log,
    rateLimitFor: (claims) => {
      const rule = runtime.get().config.rate_limits.per_client;
      return rule ? { key: `client:${claims.client_id}`, rule } : undefined;
    },
    onDecision: (ctx, event) => recordDecision(ctx, event, { metrics, audit }),
    verifyToken: createTokenVerifier({ maxEntries: 10_000, maxAgeMs: 60_000 }),
  });

  app.use(requestId());
  app.use(clientIp(trustedProxiesFor(runtime)));
  app.use(async (ctx, next) => {
    if (await health(ctx)) return;
    if (ctx.path === '/metrics' && ctx.method === 'GET') {
      ctx.type = metrics.registry.contentType;
      ctx.body = await metrics.registry.metrics();
      return;
    }
    await next();
  });
  if (deps.startup) app.use(deps.startup.gate);
  app.use(requestLog(log));
  app.use(cors({ runtime }));
  app.use(async (ctx) => {
    if (ctx.path.startsWith('/oauth/') || ctx.path.startsWith('/.well-known/')) {
      await oauthErrors(log)(ctx, async () => {
        if (ctx.path === OAUTH_PATHS.token && ctx.method === 'POST') {
          // Tokens issued while the store is unreachable could not be revoked, nor used: say so now.
          if ((runtime.get().store as { state?: string }).state === 'down') {
            throw new OAuthError('temporarily_unavailable', 'The gateway cannot reach its store; retry shortly', { headers: { 'Retry-After': '1' } });
          }
          await tokenRateLimit(ctx, async () => undefined);
        }
        if (ctx.path === INTERACTIVE_PATHS.login && ctx.method === 'POST') {
          let allowed = false;
          await loginRateLimit(ctx, async () => {
            allowed = true;
          });
          if (!allowed) return;
        }
        const routerCtx = ctx as unknown as Parameters<typeof oauthRoutes>[0];
        await oauthRoutes(routerCtx, async () => undefined);
        if (ctx.status === 404 && ctx.body === undefined) {
          await oauthMethods(routerCtx as unknown as Parameters<typeof oauthMethods>[0], async () => undefined).catch((err: { status?: number }) => {
            throw new OAuthError('invalid_request', `Method ${ctx.method} is not allowed here`, { status: err.status ?? 405 });
          });
          if (ctx.status === 404 && ctx.body === undefined) throw new OAuthError('invalid_request', 'No such endpoint', { status: 404 });
        }
      });
      return;
    }
    try {
      await fhir(ctx);
    } catch (err) {
      log.error({ err }, 'FHIR request failed');
      if (!ctx.headerSent && ctx.respond !== false) sendOutcome(ctx, 500, 'exception', 'Unexpected gateway error');
    }
  });
  return app;
}

function recordDecision(ctx: Koa.Context, event: AccessEvent, sinks: { metrics: GatewayMetrics; audit: AuditLog }): void {
  sinks.metrics.requests.inc({ decision: event.decision, status: String(event.status) });
  if (event.status === 429) sinks.metrics.rateLimited.inc({ limit: 'per_client' });
  const started = ctx.state.startedAt as bigint | undefined;
  sinks.audit.write({
    time: new Date().toISOString(),
    request_id: ctx.state.requestId as string | undefined,
    client_id: event.claims?.client_id,
    sub: event.claims?.sub,
    fhirUser: event.claims?.fhirUser,
    patient: event.claims?.patient,
    method: event.method,
    interaction: event.interaction,
    resource_type: event.resourceType,
    resource_id: event.resourceId,
    decision: event.decision,
    reason: event.reason,
    upstream_status: event.decision === 'allow' ? event.status : undefined,
    status: event.status,
    latency_ms: started ? Number(process.hrtime.bigint() - started) / 1e6 : 0,
  });
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { config, log } = options;
  const metrics = options.metrics ?? new GatewayMetrics();
  const store = instrumentStore(options.store, metrics);
  // The store is connected and the keys loaded in the background (gateway/startup.ts): the
  // process listens even while Redis is down, answering 503 until it is reachable.
  const runtime = new RuntimeHolder(buildRuntime(config, PENDING_KEYS, store));
  const startup = await startStoreAndKeys({ runtime, store, log });
  const forwarderOptions = { upstream: config.upstream, publicUrl: runtime.get().publicUrl };
  const forwarder = instrumentForwarder(
    options.forwarder ?? (config.upstream.forwarder === 'undici' ? createUndiciForwarder(forwarderOptions) : createHttpProxyForwarder(forwarderOptions)),
    metrics,
  );
  let draining = false;
  const app = createApp({ runtime, forwarder, log, metrics, audit: options.audit ?? noAudit, draining: () => draining, startup });
  const server = createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  // Wait a little for the store before accepting connections, so a worker joining a cluster (or
  // an instance joining a load balancer) does not answer its first requests with 503. If the
  // store stays away, listen anyway: /healthz answers and /readyz says why it is not ready.
  const readyWaitMs = options.readyWaitMs ?? 5_000;
  if (readyWaitMs > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([startup.whenReady, new Promise<void>((resolve) => (timer = setTimeout(resolve, readyWaitMs)))]);
    clearTimeout(timer);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.server.port, config.server.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  log.info({ url, upstream: config.upstream.url, store: store.kind }, 'gateway listening');

  return {
    server,
    url,
    runtime,
    store,
    metrics,
    startup,
    async reload(next) {
      const current = runtime.get().config;
      const needsRestart = (['upstream', 'store'] as const).filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]));
      if (current.server.port !== next.server.port || current.server.host !== next.server.host) needsRestart.push('server' as never);
      const nextKeys = await startup.keysFor(next.tokens);
      runtime.replace(buildRuntime({ ...next, upstream: current.upstream, store: current.store }, nextKeys, store));
      log.info({ clients: next.clients.length, restart_needed_for: needsRestart }, 'configuration reloaded');
    },
    async close(graceSeconds = config.server.shutdown_grace) {
      draining = true;
      startup.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections become idle as their last response ends: close them then, not
      // only those idle at the moment of the signal (else close() waits out the whole grace).
      server.closeIdleConnections();
      const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
      void closed.then(() => clearInterval(idleSweep));
      const grace = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceSeconds * 1000).unref());
      if ((await Promise.race([closed, grace])) === 'timeout') {
        log.warn({ grace_seconds: graceSeconds }, 'grace period over: closing the remaining connections');
        server.closeAllConnections();
        await closed;
      }
      forwarder.close();
      await store.close();
    },
  };
}
