import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { hashPassword } from '../../../authz/oauth/users/password-hash.js';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { freePort } from '../../support/free-port.js';
import { startGatewayProcess, waitFor, type GatewayProcess } from '../../support/gateway-process.js';
import { authorizeInBrowser } from '../../support/oauth-fixtures.js';
import { clientToken, kidOf, statusesOnFreshConnections } from '../../support/ops-helpers.js';
import { startRedisServerFor } from '../../support/redis-server.js';
import { BACKEND_SECRET, baseRawConfig } from '../../support/stack.js';

/**
 * Issue #4.3: several gateway PROCESSES on one Redis behave as one gateway: same keys, shared
 * revocations, shared rate limits, single-use codes redeemable at any instance. And one process
 * with `server.workers: 2`.
 */

const PUBLIC_URL = 'http://gateway.test';
const REDIRECT = 'https://app.example.com/cb';

t.test('two gateway processes on one Redis', async (t) => {
  const redis = await startRedisServerFor(t);
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'shared1', name: [{ family: 'Shared' }] }] as never);
  const password = 'instances-password-1';
  const passwordHash = await hashPassword(password);

  const configFor = (port: number) => {
    const raw = baseRawConfig(port, upstream.baseUrl, redis.url);
    // One issuer for all instances: a token is for "the gateway", whichever instance issued it.
    raw.server.public_url = PUBLIC_URL;
    raw.audit = { enabled: false };
    raw.logging = { level: 'info' };
    raw.rate_limits = { per_client: { rate: '1/hour', burst: 9 } };
    raw.users = [{ username: 'alice', password_hash: passwordHash, patient: 'Patient/shared1', fhir_user: 'Patient/shared1', scope: 'patient/*.rs' }];
    raw.clients.push(
      { client_id: 'limited', client_secret: BACKEND_SECRET, scope: 'system/Patient.rs' },
      {
        client_id: 'app',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        scope: 'launch/patient patient/*.rs',
        redirect_uris: [REDIRECT],
      },
    );
    return raw;
  };
  const [portA, portB] = [await freePort(), await freePort()];
  const [a, b] = await Promise.all([
    startGatewayProcess(t, { config: configFor(portA) }),
    startGatewayProcess(t, { config: configFor(portB) }),
  ]);
  // Ready (store reached, keys loaded) before the first call.
  for (const gw of [a, b]) await waitFor(async () => (await fetch(`${gw.url}/readyz`)).status === 200, 20_000, `${gw.url} ready`);
  const read = (gw: GatewayProcess, token: string) =>
    fetch(`${gw.url}/Patient/shared1`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => {
      await r.arrayBuffer();
      return r.status;
    });

  t.test('same JWKS; each verifies the tokens of the other', async (t) => {
    const [jwksA, jwksB] = await Promise.all([a, b].map(async (gw) => (await fetch(`${gw.url}/.well-known/jwks.json`)).json()));
    t.same(jwksA, jwksB, 'identical JWKS');
    const tokenA = await clientToken(a.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
    const tokenB = await clientToken(b.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
    t.equal(kidOf(tokenA), kidOf(tokenB), 'same signing kid');
    t.ok((jwksA as { keys: { kid: string }[] }).keys.some((k) => k.kid === kidOf(tokenA)), 'the kid is published');
    t.equal(await read(b, tokenA), 200, 'B accepts a token issued by A');
    t.equal(await read(a, tokenB), 200, 'A accepts a token issued by B');
  });

  t.test('a token revoked at one instance is refused at the other, at once', async (t) => {
    const token = await clientToken(a.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
    t.equal(await read(b, token), 200, 'valid at B before');
    const revoke = await fetch(`${a.url}/oauth/revoke`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`backend:${BACKEND_SECRET}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    });
    t.equal(revoke.status, 200, 'revoked at A');
    // Well within one second: the very next request at B, no waiting at all, is refused.
    t.equal(await read(b, token), 401, 'B refuses it on the first request after the revocation');
    t.equal(await read(a, token), 401, 'and so does A');
  });

  t.test('a rate limit is shared: limit + burst across both instances', async (t) => {
    const token = await clientToken(a.url, 'limited', BACKEND_SECRET, 'system/Patient.rs');
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push(await read(i % 2 === 0 ? a : b, token));
    t.equal(statuses.filter((s) => s === 200).length, 10, 'exactly 10 (1/hour + burst 9) pass in total');
    t.equal(statuses.filter((s) => s === 429).length, 10, 'the rest are throttled, at both instances');
    t.ok(statuses.slice(10).every((s) => s === 429), 'both instances throttle once the shared allowance is spent');
  });

  t.test('an authorization code issued by one instance is redeemed at the other, once', async (t) => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const authorize = new URL(`${a.url}/oauth/authorize`);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: 'app',
      redirect_uri: REDIRECT,
      scope: 'launch/patient patient/*.rs',
      state: 'st-1',
      aud: PUBLIC_URL,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }))
      authorize.searchParams.set(k, v);
    const run = await authorizeInBrowser({ gateway: { url: a.url } } as never, authorize, { user: { username: 'alice', password } });
    t.ok(run.location, `the browser flow at A ends in a redirect (${run.lastPage?.status ?? ''} ${run.lastPage?.html.slice(0, 200) ?? ''})`);
    const code = new URL(run.location!).searchParams.get('code');
    t.ok(code, 'A issued a code');
    const redeem = (gw: GatewayProcess) =>
      fetch(`${gw.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: code!, redirect_uri: REDIRECT, client_id: 'app', code_verifier: verifier }).toString(),
      });
    const atB = await redeem(b);
    const body = (await atB.json()) as { access_token?: string; patient?: string };
    t.equal(atB.status, 200, 'B redeems the code A issued');
    t.equal(body.patient, 'shared1', 'with the launch context chosen at A');
    t.equal(await read(a, body.access_token!), 200, 'the token works at A');
    const again = await redeem(a);
    t.equal(again.status, 400, 'a second redemption, at A, fails');
    t.equal(((await again.json()) as { error: string }).error, 'invalid_grant');
  });
});

t.test('server.workers: 2 with Redis: two workers share one port; SIGTERM at the primary exits 0', async (t) => {
  const redis = await startRedisServerFor(t);
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'w1' }] as never);
  const port = await freePort();
  const raw = baseRawConfig(port, upstream.baseUrl, redis.url);
  raw.server.workers = 2;
  raw.audit = { enabled: false };
  const gw = await startGatewayProcess(t, { config: raw });
  // Ready means every worker is: several fresh connections in a row (dealt across workers) all say so.
  const allWorkersReady = async () => {
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${gw.url}/readyz`, { headers: { connection: 'close' } });
      await res.arrayBuffer();
      if (res.status !== 200) return false;
    }
    return true;
  };
  await waitFor(allWorkersReady, 20_000, 'ready');
  const token = await clientToken(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const statuses = await statusesOnFreshConnections(gw.url, token, '/Patient/w1', 30);
  t.ok(statuses.every((s) => s === 200), `all 30 requests succeed (${[...new Set(statuses)].join(',')})`);
  gw.kill('SIGTERM');
  const exit = await gw.exited;
  t.same(exit, { code: 0, signal: null }, 'the primary exits 0 after its workers drained');
  t.equal(gw.logs.filter((l) => l.msg === 'gateway listening').length, 2, 'two gateways listened');
  const workers = gw.logs.filter((l) => l.msg === 'worker serving');
  t.equal(new Set(workers.map((l) => l.pid)).size, 2, 'in two worker processes');
  t.notOk(workers.some((l) => l.pid === gw.child.pid), 'neither is the primary');
  t.ok(gw.logs.some((l) => l.msg === 'all workers stopped'), 'the primary saw every worker stop');
});

t.test('server.workers: 2 with the embedded store is a configuration error (exit 2)', async (t) => {
  const port = await freePort();
  const raw = baseRawConfig(port, 'http://127.0.0.1:9/fhir');
  raw.server.workers = 2;
  const gw = await startGatewayProcess(t, { config: raw, waitHealthy: false });
  const exit = await gw.exited;
  t.equal(exit.code, 2);
  t.match(gw.stderr(), 'server.workers: more than one worker needs a shared store');
  t.equal(gw.stdout(), '', 'nothing started');
});
