import t from 'tap';
import { ConfigError, parseConfig } from '../../config/loader.js';

/** The production keys: rate limits, workers, Redis topologies, audit, shutdown. */
const BASE = { server: { public_url: 'http://gw.example' }, upstream: { url: 'http://fhir.example/fhir' } };
const load = (extra: Record<string, unknown>) => parseConfig(JSON.stringify({ ...BASE, ...extra }), 'ops.yaml', {});
const problems = (extra: Record<string, unknown>) => {
  try {
    load(extra);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};

t.test('rate limits read as rates, with optional burst', async (t) => {
  const config = load({ rate_limits: { per_client: '600/min', per_ip_token: { rate: '30/min', burst: 5 }, per_ip_login: '10/minute' } });
  // Issue 12 item 5: an unwritten burst is the limit (N/period admits N within any period); was 0.
  t.same(config.rate_limits.per_client, { limit: 600, periodSeconds: 60, burst: 600 });
  t.same(config.rate_limits.per_ip_token, { limit: 30, periodSeconds: 60, burst: 5 });
  t.same(config.rate_limits.per_ip_login, { limit: 10, periodSeconds: 60, burst: 10 });
  t.same(load({ rate_limits: { per_client: '5/s' } }).rate_limits.per_client, { limit: 5, periodSeconds: 1, burst: 5 });
  t.same(load({ rate_limits: { per_client: '1000/hour' } }).rate_limits.per_client, { limit: 1000, periodSeconds: 3600, burst: 1000 });
  t.same(load({ rate_limits: { per_client: { rate: '20/min' } } }).rate_limits.per_client, { limit: 20, periodSeconds: 60, burst: 20 }, 'the same without burst in the mapping form');
  t.same(load({ rate_limits: { per_client: { rate: '20/min', burst: 0 } } }).rate_limits.per_client, { limit: 20, periodSeconds: 60, burst: 0 }, 'burst: 0 written: strict pacing');
  t.same(load({}).rate_limits, {}, 'no limits unless configured');
});

t.test('bad rate limits name the key and the expected form', async (t) => {
  t.same(problems({ rate_limits: { per_client: '600/fortnight' } }), [
    'ops.yaml: rate_limits.per_client: expected a rate like 600/min, 10/s or 1000/hour, or { rate: 600/min, burst: 50 }',
  ]);
  t.same(problems({ rate_limits: { per_client: '0/min' } }), [
    'ops.yaml: rate_limits.per_client: expected a rate like 600/min, 10/s or 1000/hour, or { rate: 600/min, burst: 50 }',
  ]);
  t.same(problems({ rate_limits: { per_ip_login: { rate: '1/s', bogus: 1 } } }), ['ops.yaml: rate_limits.per_ip_login: unknown key bogus (allowed: rate, burst)']);
  t.same(problems({ rate_limits: { per_ip_login: { rate: '1/s', burst: -1 } } }), ['ops.yaml: rate_limits.per_ip_login: expected burst to be an integer >= 0']);
  t.match(problems({ rate_limits: { per_ip: '1/s' } })[0], /^ops\.yaml: rate_limits\.per_ip: unknown key/);
});

t.test('workers', async (t) => {
  t.equal(load({}).server.workers, 1, 'one worker by default');
  t.equal(load({ server: { ...BASE.server, workers: 'auto' }, store: { url: 'redis://127.0.0.1:6379' } }).server.workers, 'auto');
  t.same(problems({ server: { ...BASE.server, workers: 2 } }), [
    'ops.yaml: server.workers: more than one worker needs a shared store (set store.url): workers could not share the embedded store',
  ]);
  t.same(problems({ server: { ...BASE.server, workers: 'auto' } }).length, 1, "'auto' with the embedded store is refused too");
  t.match(problems({ server: { ...BASE.server, workers: 0 } })[0], /^ops\.yaml: server\.workers: /);
});

t.test('Redis Sentinel and Cluster', async (t) => {
  const sentinel = load({ store: { sentinels: [{ host: '10.0.0.1', port: 26379 }], sentinel_name: 'mymaster' } });
  t.same(sentinel.store.sentinels, [{ host: '10.0.0.1', port: 26379 }]);
  const cluster = load({ store: { cluster_nodes: [{ host: 'r1', port: 7000 }, { host: 'r2', port: 7001 }] } });
  t.equal(cluster.store.cluster_nodes?.length, 2);
  t.same(problems({ store: { sentinels: [{ host: 'a', port: 26379 }] } }), ['ops.yaml: store.sentinel_name: required with sentinels (the monitored master name)']);
  t.same(problems({ store: { url: 'redis://a', cluster_nodes: [{ host: 'a', port: 1 }] } }), [
    'ops.yaml: store: use only one of url, sentinels, cluster_nodes (got url, cluster_nodes)',
  ]);
  t.match(problems({ store: { cluster_nodes: [{ host: 'a' }] } })[0], /^ops\.yaml: store\.cluster_nodes\[0\]\.port: required key is missing/);
});

t.test('audit, trusted proxies, shutdown grace', async (t) => {
  const config = load({ audit: { destination: '/var/log/fhir-audit.log' }, server: { ...BASE.server, trusted_proxies: ['10.0.0.0/8'], shutdown_grace: '30s' } });
  t.same(config.audit, { enabled: true, destination: '/var/log/fhir-audit.log' });
  t.same(config.server.trusted_proxies, ['10.0.0.0/8']);
  t.equal(config.server.shutdown_grace, 30);
  t.match(problems({ audit: { enabled: 'yes please' } })[0], /^ops\.yaml: audit\.enabled: expected true or false/);
});

t.test('every example config in config/examples loads', async (t) => {
  const { readdirSync } = await import('node:fs');
  const { loadConfigFile } = await import('../../config/loader.js');
  const dir = new URL('../../config/examples/', import.meta.url).pathname;
  const env = { BACKEND_SECRET: 'x', DEMO_UPSTREAM_URL: 'http://127.0.0.1:1/fhir' };
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  t.ok(files.length >= 3, `found ${files.join(', ')}`);
  for (const file of files) {
    t.doesNotThrow(() => loadConfigFile(dir + file, env), file);
  }
});
