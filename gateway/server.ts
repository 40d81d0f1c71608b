import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
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
import { recordDecisions } from './process/decision-record.js';
import { GatewayMetrics } from './process/metrics.js';
import { operationsEndpoints } from './process/operations.js';
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
  /** Swap in a new configuration (SIGHUP). Upstream, store and listener changes need a restart. */
  reload(config: GatewayConfig): Promise<void>;
  /** Stop accepting, let in-flight requests finish within the grace period, close the store. */
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
  const startup = await startStoreAndKeys({ runtime, store, log });
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
    onDecided: recordDecisions({ metrics, audit: options.audit }),
    ready: startup.ready,
  });
  const server = createServer(
    frontDoor({
      routes: {
        operations: operationsEndpoints({
          store: () => runtime.get().store,
          upstreamReadiness: (timeoutMs) => upstream.readiness(timeoutMs),
          metrics,
          draining: () => draining,
          started: startup.ready,
        }),
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
    upstream,
    startup,
    async reload(next) {
      const current = runtime.get().config;
      const needsRestart: string[] = (['upstream', 'store'] as const).filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]));
      if (current.server.port !== next.server.port || current.server.host !== next.server.host) needsRestart.push('server');
      const nextKeys = await startup.keysFor(next.tokens);
      // Read anew (key files included): a provider that cannot be set up refuses the reload.
      const nextParties = await relyingPartiesOf(next);
      runtime.replace(buildRuntime({ ...next, upstream: current.upstream, store: current.store }, nextKeys, store, nextParties));
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
