import t from 'tap';
import { randomUUID } from 'node:crypto';
import { AuthorizationCodes, type CodeRecord } from '../../../authz/oauth/records/authorization-codes.js';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { createStore } from '../../../gateway/store/create-store.js';
import { freePort } from '../../support/free-port.js';
import { startGatewayProcess, waitFor } from '../../support/gateway-process.js';
import { clientToken, tokenRequest } from '../../support/ops-helpers.js';
import { startRedisServerFor } from '../../support/redis-server.js';
import { BACKEND_SECRET, baseRawConfig, startStack } from '../../support/stack.js';

/** Issue #4.4: the gateway with its Redis missing, dying, and coming back. */

const quiet = { info() {}, warn() {} };

t.test('Redis down at start: listens, /healthz 200, /readyz 503, 503 for the rest; ready once Redis appears', async (t) => {
  const redis = await startRedisServerFor(t);
  await redis.kill(); // the port is known, nothing listens on it
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'late1' }] as never);
  const raw = baseRawConfig(await freePort(), upstream.baseUrl, redis.url);
  raw.audit = { enabled: false };
  const gw = await startGatewayProcess(t, { config: raw });

  t.equal((await fetch(`${gw.url}/healthz`)).status, 200, 'alive');
  const ready = await fetch(`${gw.url}/readyz`);
  t.equal(ready.status, 503, 'not ready');
  t.match(await ready.json(), { ready: false, store: 'unreachable', upstream: 'ok', starting: true });
  const token = await tokenRequest(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  t.equal(token.status, 503, 'the token endpoint answers 503');
  t.match(await token.json(), { error: 'temporarily_unavailable' });
  t.ok(Number(token.headers.get('retry-after')) >= 1, 'with Retry-After');
  const fhir = await fetch(`${gw.url}/Patient/late1`, { headers: { authorization: 'Bearer whatever' } });
  t.equal(fhir.status, 503, 'a FHIR request answers 503');
  t.match(await fhir.json(), { resourceType: 'OperationOutcome', issue: [{ code: 'transient' }] });
  // (/readyz probes the upstream with HEAD /metadata; nothing else may arrive.)
  t.same(upstream.received.filter((r) => r.method !== 'HEAD'), [], 'nothing was forwarded');

  // Several retries happen meanwhile (backoff 100 ms, 200 ms, 400 ms, ...).
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  await redis.restart();
  await waitFor(async () => (await fetch(`${gw.url}/readyz`)).status === 200, 20_000, 'ready after Redis appeared');
  const access = await clientToken(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const read = await fetch(`${gw.url}/Patient/late1`, { headers: { authorization: `Bearer ${access}` } });
  t.equal(read.status, 200, 'serves once Redis is there');
  await read.arrayBuffer();

  gw.kill('SIGTERM');
  t.same(await gw.exited, { code: 0, signal: null });
  const warnings = gw.logs.filter((l) => (l.level as number) >= 40 && l.store !== 'memory');
  t.equal(warnings.length, 1, `one warning for the whole outage, not one per retry: ${JSON.stringify(warnings.map((l) => l.msg))}`);
  t.match(warnings[0]?.msg, /store unreachable at start/);
  t.match(String(warnings[0]?.err), /ECONNREFUSED|connect/, 'naming the cause');
  t.equal(gw.logs.filter((l) => l.msg === 'gateway ready: store reachable and signing keys loaded').length, 1, 'one line when it became ready');
  const ready1 = gw.logs.find((l) => l.msg === 'gateway ready: store reachable and signing keys loaded');
  t.ok((ready1?.attempts as number) > 2, `it retried in the background (${String(ready1?.attempts)} attempts)`);
});

t.test('Redis killed while serving: 503 (a revoked token never passes), then recovers by itself', async (t) => {
  const redis = await startRedisServerFor(t, { appendonly: true });
  // No per-IP limit here: even a client_credentials grant, which needs nothing from the store,
  // is refused while the store is down (its tokens could be neither used nor revoked).
  const stack = await startStack(t, { store: 'redis', redis });
  const base = stack.gateway.url;
  await stack.upstream.seed([{ resourceType: 'Patient', id: 'f1' }] as never);
  const good = await clientToken(base, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const revoked = await clientToken(base, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const revoke = await fetch(`${base}/oauth/revoke`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`backend:${BACKEND_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: revoked }).toString(),
  });
  t.equal(revoke.status, 200);
  const read = async (token: string) => {
    const res = await fetch(`${base}/Patient/f1`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, any>, retryAfter: res.headers.get('retry-after') };
  };
  t.equal((await read(good)).status, 200);
  t.equal((await read(revoked)).status, 401);
  stack.takeReceived();

  await redis.kill();
  for (let i = 0; i < 5; i++) {
    const refused = await read(revoked);
    t.equal(refused.status, 503, `revoked token during the outage: 503, never 200 (try ${i + 1})`);
  }
  const down = await read(good);
  t.equal(down.status, 503, 'a valid token gets 503 too');
  t.equal(down.body.resourceType, 'OperationOutcome');
  t.equal(down.body.issue[0].code, 'transient');
  t.equal(down.retryAfter, '1');
  const token = await tokenRequest(base, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  t.equal(token.status, 503, 'token endpoint: 503');
  t.match(await token.json(), { error: 'temporarily_unavailable' });
  t.equal((await fetch(`${base}/readyz`)).status, 503, '/readyz 503');
  t.same(
    stack.takeReceived().filter((r) => r.method !== 'HEAD'),
    [],
    'nothing reached the upstream during the outage (only the /readyz probe)',
  );
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // several reconnect attempts
  const unreachable = stack.logs.filter((l) => l.includes('Redis store unreachable'));
  t.equal(unreachable.length, 1, 'one log line for the outage, not one per reconnect attempt');

  const readyBefore = stack.logs.filter((l) => l.includes('"msg":"Redis store ready"')).length;
  await redis.restart();
  await waitFor(async () => (await read(good)).status === 200, 20_000, 'serving again after restart');
  t.pass('recovered without a restart of the gateway');
  t.equal((await read(revoked)).status, 401, 'the revocation survived (AOF) and still applies');
  t.equal(stack.logs.filter((l) => l.includes('"msg":"Redis store ready"')).length, readyBefore + 1, 'one line when it is back');
  t.equal((await fetch(`${base}/readyz`)).status, 200);
});

t.test('with appendonly, no issued code or revocation is lost across kill + restart', async (t) => {
  const redis = await startRedisServerFor(t, { appendonly: true });
  const store = createStore({ url: redis.url, key_prefix: 'aof:' }, quiet);
  await store.connect();
  t.teardown(() => store.close());
  const codes = new AuthorizationCodes(store);
  const record: CodeRecord = { clientId: 'app', redirectUri: 'https://app.example/cb', scope: 'patient/*.rs', username: 'alice', authTime: 1 };
  const issued: string[] = [];
  const jtis: string[] = [];
  for (let i = 0; i < 200; i++) {
    issued.push(await codes.issue({ ...record, nonce: `n${i}` }, 600));
    const jti = randomUUID();
    await store.revoke(jti, 3600);
    jtis.push(jti);
  }
  await redis.kill(); // SIGKILL: no shutdown save, only what the AOF (fsync always) holds
  await redis.restart();
  await waitFor(() => store.ping().then(() => true, () => false), 20_000, 'the store reconnects');
  let redeemed = 0;
  for (const [i, code] of issued.entries()) {
    const result = await codes.redeem(code);
    if (result.kind === 'valid' && result.record.nonce === `n${i}`) redeemed++;
  }
  t.equal(redeemed, 200, 'all 200 codes redeemable after the crash');
  let stillRevoked = 0;
  for (const jti of jtis) if (await store.isRevoked(jti)) stillRevoked++;
  t.equal(stillRevoked, 200, 'all 200 revocations kept');
  t.equal((await codes.redeem(issued[0]!)).kind, 'unknown', 'and codes are still single-use');
});
