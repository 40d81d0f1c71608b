import t from 'tap';
import { connect } from 'node:net';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { freePort } from '../../support/free-port.js';
import { startGatewayProcess, waitFor } from '../../support/gateway-process.js';
import { clientToken, startSlowUpstream } from '../../support/ops-helpers.js';
import { BACKEND_SECRET, baseRawConfig, startStack } from '../../support/stack.js';

/** Issue #4.5: health endpoints and draining shutdown. */

t.test('/healthz and /readyz: never proxied, never rate limited; /readyz follows the upstream', async (t) => {
  const upstream = await startFhirUpstream();
  const stack = await startStack(t, {
    store: 'redis',
    upstream,
    edit: (raw) => (raw.rate_limits = { per_client: { rate: '1/hour', burst: 0 }, per_ip_token: { rate: '1/hour', burst: 0 }, per_ip_login: { rate: '1/hour', burst: 0 } }),
  });
  const base = stack.gateway.url;
  const healthz = await fetch(`${base}/healthz`);
  t.equal(healthz.status, 200);
  t.same(await healthz.json(), { status: 'ok' });
  t.equal(healthz.headers.get('cache-control'), 'no-store');
  const readyz = await fetch(`${base}/readyz`);
  t.equal(readyz.status, 200);
  t.same(await readyz.json(), { ready: true, store: 'ok', upstream: 'ok' });

  stack.takeReceived();
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) {
    const res = await fetch(`${base}/healthz`, { headers: { authorization: 'Bearer not-a-token' } });
    statuses.push(res.status);
    t.notOk(res.headers.get('ratelimit-limit'), 'no rate-limit headers on /healthz');
    await res.arrayBuffer();
  }
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`${base}/readyz`);
    statuses.push(res.status);
    await res.arrayBuffer();
  }
  t.ok(statuses.every((s) => s === 200), '35 health checks, all 200, despite 1/hour limits everywhere');
  const received = stack.takeReceived();
  t.ok(
    received.every((r) => r.method === 'HEAD' && r.url === '/fhir/metadata' && r.headers.authorization === undefined),
    'the upstream saw only the readiness probe (HEAD /metadata), never a proxied health request',
  );
  t.notOk(received.some((r) => r.url.includes('healthz') || r.url.includes('readyz')), 'health paths are never forwarded');

  await upstream.close();
  const down = await fetch(`${base}/readyz`);
  t.equal(down.status, 503, 'upstream gone: not ready');
  const report = (await down.json()) as Record<string, unknown>;
  t.same(Object.keys(report).sort(), ['ready', 'store', 'upstream', 'upstream_reason']);
  t.match(report, { ready: false, store: 'ok', upstream: 'unreachable', upstream_reason: /^upstream unreachable: E[A-Z]+/ }, 'and it says why');
  t.equal((await fetch(`${base}/healthz`)).status, 200, 'still alive');
});

t.test('SIGTERM under load: in-flight requests complete, new connections are refused, exit 0', async (t) => {
  const slow = await startSlowUpstream(1_000);
  t.teardown(() => slow.close());
  const port = await freePort();
  const raw = baseRawConfig(port, slow.baseUrl);
  raw.audit = { enabled: false };
  raw.server.shutdown_grace = '10s';
  const gw = await startGatewayProcess(t, { config: raw });
  const token = await clientToken(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');

  const inFlight = Array.from({ length: 20 }, (_, i) =>
    fetch(`${gw.url}/Patient/slow-${i}`, { headers: { authorization: `Bearer ${token}` } }).then(
      async (res) => ({ status: res.status, body: (await res.json()) as { id?: string } }),
      (err: unknown) => ({ status: 0, body: { error: String(err) } as { id?: string } }),
    ),
  );
  // All 20 are at the upstream (which holds them ~1 s): now stop the gateway.
  await waitFor(() => slow.received() === 20, 10_000, 'all 20 requests reached the upstream');
  const signalled = Date.now();
  gw.kill('SIGTERM');

  // While the 20 are still pending, a new connection must be refused.
  let refused = false;
  const settled = Promise.all(inFlight);
  let done = false;
  void settled.then(() => (done = true));
  for (let i = 0; i < 40 && !refused && !done; i++) {
    refused = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    if (!refused) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.ok(refused, 'a new connection is refused while requests drain');
  t.notOk(done, 'the refusal was observed while the requests were still in flight');

  const results = await settled;
  t.same(
    results.map((r) => r.status),
    Array(20).fill(200),
    'all 20 in-flight requests completed with 200',
  );
  t.ok(results.every((r, i) => r.body.id === `slow-${i}`), 'each with its complete body');
  const exit = await gw.exited;
  t.same(exit, { code: 0, signal: null }, 'exit code 0');
  t.ok(Date.now() - signalled < 10_000, 'exited within the 10 s grace period');
  t.ok(gw.logs.some((l) => l.msg === 'stopped'), 'logged the clean stop');
  t.notOk(gw.logs.some((l) => l.msg === 'grace period over: closing the remaining connections'), 'no connection had to be cut');
});
