import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { DEFAULT_ADMIN_HOST } from '../config/schema.js';
import type { GatewayConfig } from '../config/types.js';
import { loadRelyingParties, type RelyingParties } from '../authz/oauth/federation/relying-parties.js';
import { ProviderClientKeyError } from '../authz/oauth/federation/provider-client-key.js';
import { ConfigError } from '../config/loader.js';
import { createAuthorizationServer } from '../authz/oauth/routes.js';
import { buildRuntime, RuntimeHolder } from '../authz/runtime.js';
import type { Store } from '../authz/store.js';
import { createTokenVerifier } from '../authz/tokens/verified-token-cache.js';
import { trustedProxySet } from './http/client-ip.js';
import { exchangeOf } from './http/exchange.js';
import { frontDoor } from './http/front-door.js';
import type { AuditLog } from './process/audit-log.js';
import { createAuditTrail, type AuditTrail } from './process/audit/audit-trail.js';
import { recordDecisions } from './process/decision-record.js';
import { GatewayMetrics } from './process/metrics.js';
import { adminRequestListener, operationsEndpoints, readiness, type ReadinessReport } from './process/operations.js';
import { logEachRequest } from './process/request-log.js';
import { PENDING_KEYS, startStoreAndKeys, type GatewayStartup } from './process/startup.js';
import { upstreamFhirReader } from './oauth/upstream-fhir-reader.js';
import { FhirProxy } from './proxy/pipeline.js';
import { instrumentStore } from './store/instrumented-store.js';
import type { Forwarder } from './upstream/forwarder.js';
import { createHttpProxyForwarder } from './upstream/http-proxy-forwarder.js';
import { instrumentForwarder } from './upstream/instrumented-forwarder.js';
import { createUndiciForwarder } from './upstream/undici-forwarder.js';
import { createUpstreamClient, type UpstreamClient } from './upstream/upstream-client.js';
import { createUpstreamSetup } from './upstream/upstream-setup.js';

export interface Gateway {
  server: Server;
  /** Where it listens, e.g. http://127.0.0.1:34567 */
  url: string;
  /** Where the admin listener (server.admin_port) listens; undefined without one, or when the cluster primary serves it. */
  adminUrl: string | undefined;
  runtime: RuntimeHolder;
  store: Store;
  metrics: GatewayMetrics;
  /**
   * Every request towards the upstream goes through this (credentials, TLS, identity, the 401
   * retry): the patient picker's searches and AuditEvents sent to the upstream use it too.
   */
  upstream: UpstreamClient;
  /** Background start: `ready()` once the store answered and the keys are loaded. */
  startup: GatewayStartup;
  /** What /readyz answers (the cluster primary asks each worker for it). */
  readiness(): Promise<ReadinessReport>;
  /** Swap in a new configuration (SIGHUP). Upstream, store and listener changes need a restart. */
  reload(config: GatewayConfig): Promise<void>;
  /**
   * Stop accepting, let in-flight requests finish within the grace period, send the queued
   * AuditEvents with what is left of it (at least a second), close the admin listener and the store.
   */
  close(graceSeconds?: number): Promise<void>;
}

interface GatewayOptions {
  config: GatewayConfig;
  store: Store;
  log: Logger;
  /** The audit log; none when auditing is off. */
  audit?: AuditLog;
  metrics?: GatewayMetrics;
  /** Use this forwarder instead of the one `upstream.forwarder` names. */
  forwarder?: Forwarder;
  /**
   * How long startGateway waits, once listening, for the store and keys before it resolves
   * anyway (not ready: 503 until the store is reached). Default 5000 ms.
   */
  readyWaitMs?: number;
  /**
   * A node:cluster worker whose primary serves server.admin_port for all workers
   * (gateway/process/cluster-admin.ts): this process does not listen on it, and still does not
   * serve the operations paths on the public port.
   */
  adminInPrimary?: boolean;
}

/**
 * Wires the gateway together and starts listening: the store (timed), the runtime snapshot, the
 * forwarder, the three routes (operations, the authorization server, the FHIR proxy) behind one
 * front door, and the sinks (request log, audit, metrics). Wiring only: each piece decides
 * nothing here.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { config, log } = options;
  const metrics = options.metrics ?? new GatewayMetrics();
  const store = instrumentStore(options.store, metrics);
  // The store is connected and the keys loaded in the background (gateway/process/startup.ts):
  // the process listens even while Redis is down, answering 503 until it is reachable.
  // A private_key_jwt key file of an identity provider that cannot be read stops the start, as
  // tokens.signing_key_file does; the providers themselves are discovered on first use.
  const relyingParties = await relyingPartiesOf(config);
  const runtime = new RuntimeHolder(buildRuntime(config, PENDING_KEYS, store, relyingParties));
  // Credentials, TLS and identity towards the upstream, before anything starts (a file that
  // became unreadable since the config loaded is a ConfigError). A reload keeps the running
  // upstream (see reload), so this is built once.
  const setup = createUpstreamSetup({
    config,
    log,
    keys: () => runtime.get().keys,
    onTokenRequest: (event) => metrics.upstreamTokenRequests.inc({ kind: event.kind, outcome: event.outcome, failure: event.failure ?? '' }),
  });
  // Built before anything starts: a credential or TLS file that became unusable stops the start.
  const auditTrail: AuditTrail | undefined =
    config.audit.fhir === undefined
      ? undefined
      : createAuditTrail({ config: { ...config, audit: { fhir: config.audit.fhir } }, store, registry: metrics.registry, log, publicUrl: () => runtime.get().publicUrl });
  const startup = await startStoreAndKeys({ runtime, store, log });
  if (auditTrail !== undefined) void startup.whenReady.then(() => auditTrail.start());
  const forwarderOptions = { upstream: config.upstream, publicUrl: runtime.get().publicUrl, tls: setup.tls };
  const forwarder = instrumentForwarder(
    options.forwarder ?? (config.upstream.forwarder === 'undici' ? createUndiciForwarder(forwarderOptions) : createHttpProxyForwarder(forwarderOptions)),
    metrics,
  );
  const upstream = createUpstreamClient({ forwarder, credentials: setup.credentials, identity: setup.identity });
  let draining = false;

  const authorizationServer = createAuthorizationServer({
    runtime,
    log,
    clientIp: (req) => exchangeOf(req).clientIp,
    ready: startup.ready,
    upstream: upstreamFhirReader(upstream, () => runtime.get().config.proxy.max_buffered_body),
    onTokenIssued: (grantType) => metrics.tokensIssued.inc({ grant_type: grantType }),
    onRateLimited: (limit) => metrics.rateLimited.inc({ limit }),
  });
  const proxy = new FhirProxy({
    runtime,
    upstream,
    verifyToken: createTokenVerifier({ maxEntries: 10_000, maxAgeMs: 60_000 }),
    log,
    onDecided: recordDecisions({ metrics, audit: options.audit, auditEvents: auditTrail?.sink }),
    ready: startup.ready,
    recordsSearches: auditTrail !== undefined,
  });
  const operationsDeps = {
    store: () => runtime.get().store,
    upstreamReadiness: (timeoutMs: number) => upstream.readiness(timeoutMs),
    metrics,
    draining: () => draining,
    started: startup.ready,
  };
  const operations = operationsEndpoints(operationsDeps);
  // With server.admin_port the operations paths live on the admin listener only.
  const adminPort = config.server.admin_port;
  const admin = adminPort === undefined || options.adminInPrimary ? undefined : createServer(adminRequestListener(operations, log));
  const server = createServer(
    frontDoor({
      routes: {
        operations: adminPort === undefined ? operations : undefined,
        authorizationServer: authorizationServer.callback(),
        fhir: (exchange) => proxy.handle(exchange),
      },
      trustedProxies: trustedProxiesOf(runtime),
      onExchange: logEachRequest(log),
      log,
    }),
  );
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
  const url = await listen(server, config.server.port, config.server.host);
  let adminUrl: string | undefined;
  try {
    adminUrl = admin === undefined ? undefined : await listen(admin, adminPort!, config.server.admin_host ?? DEFAULT_ADMIN_HOST);
  } catch (err) {
    // The admin port is taken (or the address is not ours): no half-started gateway.
    server.close();
    startup.stop();
    await auditTrail?.stop(0);
    const host = config.server.admin_host ?? DEFAULT_ADMIN_HOST;
    throw new Error(`the admin listener (server.admin_port) cannot listen on ${host}:${adminPort}: ${err instanceof Error ? err.message : String(err)}`);
  }
  log.info({ url, ...(adminUrl !== undefined ? { admin: adminUrl } : {}), upstream: config.upstream.url, store: store.kind }, 'gateway listening');

  return {
    server,
    url,
    adminUrl,
    runtime,
    store,
    metrics,
    upstream,
    startup,
    readiness: () => readiness(operationsDeps),
    async reload(next) {
      const current = runtime.get().config;
      const needsRestart: string[] = (['upstream', 'store'] as const).filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]));
      const listener = (c: GatewayConfig) => JSON.stringify([c.server.port, c.server.host, c.server.admin_port, c.server.admin_host]);
      if (listener(current) !== listener(next)) needsRestart.push('server');
      if (JSON.stringify(current.audit.fhir) !== JSON.stringify(next.audit.fhir)) needsRestart.push('audit.fhir');
      const nextKeys = await startup.keysFor(next.tokens);
      // Read anew (key files included): a provider that cannot be set up refuses the reload.
      const nextParties = await relyingPartiesOf(next);
      runtime.replace(buildRuntime({ ...next, upstream: current.upstream, store: current.store }, nextKeys, store, nextParties));
      log.info({ clients: next.clients.length, restart_needed_for: needsRestart }, 'configuration reloaded');
    },
    async close(graceSeconds = config.server.shutdown_grace) {
      const deadline = Date.now() + graceSeconds * 1000;
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
      // After the last request's AuditEvent was recorded, before the store (which holds the queue) closes.
      await auditTrail?.stop(Math.max(1_000, deadline - Date.now()));
      if (admin !== undefined) {
        const adminClosed = new Promise<void>((resolve) => admin.close(() => resolve()));
        // Probes and scrapes are short and idempotent: their connections need no draining.
        admin.closeAllConnections();
        await adminClosed;
      }
      await upstream.close();
      await store.close();
    },
  };
}

/** The identity providers' relying parties; a key file that cannot be used is a configuration error naming the file. */
async function relyingPartiesOf(config: GatewayConfig): Promise<RelyingParties> {
  try {
    return await loadRelyingParties(config.identity_providers, config.server.public_url);
  } catch (err) {
    if (err instanceof ProviderClientKeyError) throw new ConfigError([`${config.source}: ${err.message}`]);
    throw err;
  }
}

/** Listens and resolves with the URL a client on this machine uses (0.0.0.0 -> 127.0.0.1). */
async function listen(server: Server, port: number, hostname: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${address.port}`;
}

/** The trusted-proxy set of the current config, rebuilt only when a reload swaps the config. */
function trustedProxiesOf(runtime: RuntimeHolder) {
  let builtFor: GatewayConfig | undefined;
  let set: ReturnType<typeof trustedProxySet> | undefined;
  return () => {
    const config = runtime.get().config;
    if (config !== builtFor) {
      builtFor = config;
      set = config.server.trusted_proxies.length > 0 ? trustedProxySet(config.server.trusted_proxies) : undefined;
    }
    return set;
  };
}
