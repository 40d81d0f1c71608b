/**
 * (c), (c2), (d), (e), (f) and the token endpoint: the real gateway (startGateway) with every
 * check on and the defaults an operator gets: the request log at `info` and the audit log on
 * (both written to /dev/null, so the disk is not what is measured).
 *
 *   node --expose-gc dist/bench/servers/gateway.js --upstream URL [--redis redis://...]
 *        [--per-client 1000000/s|none] [--burst 1000000] [--log info-devnull|warn] [--forwarder undici|http-proxy]
 *
 * Without --redis it uses the embedded store; without --forwarder, the configured default.
 * `--per-client none`: no per-client rate limit (the hot path then needs no store round trip).
 *
 * IPC requests (besides rss/cpu): `mint {count}` -> `count` distinct valid access tokens for the
 * bench client, signed with the gateway's own key ring (runtime.get().keys).
 */
import { issueAccessToken } from '../../authz/tokens/access-token.js';
import { parseConfig } from '../../config/loader.js';
import { createAuditLog } from '../../gateway/process/audit-log.js';
import { logDestination } from '../../gateway/process/log-destination.js';
import { createLogger } from '../../gateway/process/logger.js';
import { startGateway } from '../../gateway/server.js';
import { createStore } from '../../gateway/store/create-store.js';
import { arg, serveChild } from './child-protocol.js';

export const BENCH_CLIENT_ID = 'bench-backend';
export const BENCH_CLIENT_SECRET = 'bench-secret-0123456789abcdef';
export const BENCH_SCOPE = 'system/Patient.rs system/Observation.rs';

const upstream = arg('upstream');
const redisUrl = arg('redis', '');
const perClient = arg('per-client', '1000000/s');
const burst = Number(arg('burst', '1000000'));
const logMode = arg('log', 'info-devnull');
const forwarder = arg('forwarder', '');

const raw = {
  server: { host: '127.0.0.1', port: 0, public_url: 'http://127.0.0.1:8080' },
  upstream: { url: upstream, timeout: '10s', ...(forwarder ? { forwarder } : {}) },
  store: redisUrl ? { url: redisUrl, key_prefix: 'bench:' } : { key_prefix: 'bench:' },
  tokens: { access_token_ttl: '1h' },
  logging: { level: logMode === 'info-devnull' ? 'info' : 'warn' },
  audit: { enabled: true, destination: '/dev/null' },
  // High enough never to refuse a bench request, so the check runs but never blocks.
  rate_limits: {
    ...(perClient === 'none' ? {} : { per_client: { rate: perClient, burst } }),
    per_ip_token: { rate: '1000000/s', burst: 1000000 },
  },
  clients: [
    {
      client_id: BENCH_CLIENT_ID,
      client_secret: BENCH_CLIENT_SECRET,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      scope: BENCH_SCOPE,
    },
  ],
};
// port 0: any free port (the child reports the one it got).
const config = parseConfig(JSON.stringify(raw), 'bench-gateway.yaml', {});

// The same batched destination the CLI gives the log (gateway/process/log-destination.ts), pointed
// at /dev/null instead of stdout so that the terminal is not what is measured.
const destination = logDestination(logMode === 'info-devnull' ? '/dev/null' : 'stderr');
const log = createLogger(config.logging, destination.stream as unknown as NodeJS.WritableStream);
const store = createStore(config.store, log);
const gateway = await startGateway({ config, store, log, audit: createAuditLog(config.audit.destination) });

serveChild(
  gateway.url,
  {
    async mint(msg) {
      const count = Math.max(1, Math.min(20_000, Number(msg.count) || 1));
      const { keys, tokens } = gateway.runtime.get();
      const out: string[] = [];
      for (let i = 0; i < count; i++) {
        const issued = await issueAccessToken(keys, tokens, { sub: `${BENCH_CLIENT_ID}-${i}`, client_id: BENCH_CLIENT_ID, scope: BENCH_SCOPE });
        out.push(issued.token);
      }
      return out;
    },
  },
  () => gateway.close(),
);
