import { Writable } from 'node:stream';
import type { Test } from 'tap';
import { parseConfig } from '../../config/loader.js';
import type { GatewayConfig } from '../../config/types.js';
import { startFhirUpstream, type FhirUpstream } from '../../gateway/demo/fhir-upstream.js';
import { createLogger } from '../../gateway/process/logger.js';
import { startGateway, type Gateway } from '../../gateway/server.js';
import { createStore } from '../../gateway/store/create-store.js';
import { freePort } from './free-port.js';
import { startRedisServer, type TestRedisServer as RedisServerHandle } from './redis-server.js';

export type StoreKind = 'redis' | 'memory';

export interface Stack {
  gateway: Gateway;
  upstream: FhirUpstream;
  redis?: RedisServerHandle;
  config: GatewayConfig;
  /** Every log line the gateway wrote, to assert that no secret ends up there. */
  logs: string[];
  /** Requests the upstream received since the last call; use to prove nothing was forwarded. */
  takeReceived(): { method: string; url: string; headers: Record<string, unknown>; body: string }[];
}

export const BACKEND_SECRET = 'backend-secret-0123456789';

/**
 * The forwarder the tests run with: the config's default, or the one FHIRGW_TEST_FORWARDER names,
 * so a folder of proxy tests can run with each (`FHIRGW_TEST_FORWARDER=undici npx tap test/gateway/proxy`).
 */
function testForwarder(): { forwarder?: 'http-proxy' | 'undici' } {
  const chosen = process.env['FHIRGW_TEST_FORWARDER'];
  if (chosen === undefined || chosen === '') return {};
  if (chosen !== 'http-proxy' && chosen !== 'undici') throw new Error(`FHIRGW_TEST_FORWARDER must be http-proxy or undici (got ${JSON.stringify(chosen)})`);
  return { forwarder: chosen };
}

/** Raw config as an operator would write it (JSON is YAML), before the loader applies defaults. */
export function baseRawConfig(port: number, upstreamUrl: string, storeUrl?: string): Record<string, any> {
  return {
    server: { host: '127.0.0.1', port, public_url: `http://127.0.0.1:${port}` },
    upstream: { url: upstreamUrl, timeout: '5s', ...testForwarder() },
    store: storeUrl ? { url: storeUrl, key_prefix: 'test:' } : { key_prefix: 'test:' },
    tokens: { access_token_ttl: '5m' },
    logging: { level: 'info' },
    clients: [
      {
        client_id: 'backend',
        client_secret: BACKEND_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        scope: 'system/Patient.rs system/Observation.rs',
      },
      {
        client_id: 'backend-post',
        client_secret: BACKEND_SECRET,
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: ['client_credentials'],
        scope: 'system/*.read',
      },
    ],
  };
}

export interface StackOptions {
  store: StoreKind;
  /** Edit the raw config before it is loaded (add clients, change TTLs...). */
  edit?: (raw: Record<string, any>) => void;
  /** Reuse an existing upstream / Redis instead of starting new ones. */
  upstream?: FhirUpstream;
  redis?: RedisServerHandle;
}

export async function startStack(t: Test, options: StackOptions): Promise<Stack> {
  const upstream = options.upstream ?? (await startFhirUpstream());
  if (!options.upstream) t.teardown(() => upstream.close());
  let redis = options.redis;
  if (options.store === 'redis' && !redis) {
    redis = await startRedisServer();
    const started = redis;
    t.teardown(() => started.stop());
  }
  const raw = baseRawConfig(await freePort(), upstream.baseUrl, options.store === 'redis' ? redis!.url : undefined);
  options.edit?.(raw);
  const config = parseConfig(JSON.stringify(raw), 'test-config.yaml', {});
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const log = createLogger(config.logging, sink);
  const store = createStore(config.store, log);
  const gateway = await startGateway({ config, store, log });
  t.teardown(() => gateway.close());
  let seen = upstream.received.length;
  return {
    gateway,
    upstream,
    redis,
    config,
    logs,
    takeReceived() {
      const out = upstream.received.slice(seen);
      seen = upstream.received.length;
      return out as never;
    },
  };
}

/** Runs the same suite on both stores. */
export function forEachStore(t: Test, suite: (t: Test, store: StoreKind) => Promise<void>): void {
  for (const store of ['memory', 'redis'] as const) {
    t.test(`${store} store`, (tt) => suite(tt, store));
  }
}
