import t from 'tap';
import { Agent, request } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { issueAccessToken } from '../../../authz/tokens/access-token.js';
import { generateSigningJwk, loadKeyRing, type KeyRing } from '../../../authz/tokens/signing-keys.js';
import { ConfigError, loadConfigFile, parseConfig } from '../../../config/loader.js';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { MemoryStore } from '../../../gateway/store/memory-store.js';
import { createStore } from '../../../gateway/store/create-store.js';
import { freePort } from '../../support/free-port.js';
import { startGatewayProcess, waitFor } from '../../support/gateway-process.js';
import { clientToken, kidOf, tokenRequest } from '../../support/ops-helpers.js';
import { startRedisServerFor } from '../../support/redis-server.js';
import { BACKEND_SECRET, baseRawConfig, startStack } from '../../support/stack.js';

/** Issue #4.7: SIGHUP reloads, and signing key rotation (key files and generated keys). */

const quiet = { info() {}, warn() {} };

function getOn(agent: Agent, url: string, token: string): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('SIGHUP: a valid config takes effect without dropping connections; a broken one is refused', async (t) => {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'r1' }] as never);
  const port = await freePort();
  const raw = baseRawConfig(port, upstream.baseUrl);
  raw.audit = { enabled: false };
  raw.rate_limits = { per_client: { rate: '1/hour', burst: 100 } };
  const gw = await startGatewayProcess(t, { config: raw });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const token = await clientToken(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const first = await getOn(agent, `${gw.url}/Patient/r1`, token);
  t.equal(first.status, 200, 'keep-alive connection opened before the reload');
  t.equal((await tokenRequest(gw.url, 'newbie', 'newbie-secret-123456', 'system/Patient.rs')).status, 401, 'the new client is unknown before');

  const next = structuredClone(raw);
  next.clients.push({ client_id: 'newbie', client_secret: 'newbie-secret-123456', scope: 'system/Patient.rs' });
  next.rate_limits = { per_client: { rate: '1/hour', burst: 1 } };
  gw.writeConfig(next);
  gw.kill('SIGHUP');
  await waitFor(async () => (await tokenRequest(gw.url, 'newbie', 'newbie-secret-123456', 'system/Patient.rs')).status === 200, 15_000, 'the new client works');
  const second = await getOn(agent, `${gw.url}/Patient/r1`, token);
  t.equal(second.status, 200, 'the connection opened before the reload still serves');
  t.ok(second.reused, 'over the very same socket');
  const newbie = await clientToken(gw.url, 'newbie', 'newbie-secret-123456', 'system/Patient.rs');
  const limited: number[] = [];
  for (let i = 0; i < 3; i++) limited.push((await getOn(agent, `${gw.url}/Patient/r1`, newbie)).status);
  t.same(limited, [200, 200, 429], 'the new rate limit (1/hour + burst 1) applies');

  // A broken file: the same messages as at start, and the running config stays.
  gw.writeConfig(`server: { public_url: "http://127.0.0.1:${port}", port: ${port}, host: 127.0.0.1 }\nupstream: { url: "${upstream.baseUrl}", timeout: soon }\nclients: [ { client_id: x, scope: "a", token_endpoint_auth_method: basic } ]\n`);
  gw.kill('SIGHUP');
  await waitFor(() => gw.logs.some((l) => l.msg === 'reload refused: the new configuration is invalid; keeping the running one'), 15_000, 'the refusal is logged');
  const refusal = gw.logs.find((l) => l.msg === 'reload refused: the new configuration is invalid; keeping the running one')!;
  const problems = refusal.problems as string[];
  t.ok(problems.includes(`${gw.configFile}: upstream.timeout: expected a duration like 30s, 5m, 1h or 30d (got "soon")`), 'names the bad duration');
  t.ok(
    problems.some((p) => p.startsWith(`${gw.configFile}: clients[0].token_endpoint_auth_method: expected one of`)),
    'and the bad enum',
  );
  // Exactly the messages a start with this file prints (the CLI uses the same loader).
  let atStart: string[] = [];
  try {
    loadConfigFile(gw.configFile, {});
  } catch (err) {
    if (err instanceof ConfigError) atStart = err.problems;
  }
  t.same(problems, atStart, 'the same clear messages as at start');
  t.equal((await tokenRequest(gw.url, 'newbie', 'newbie-secret-123456', 'system/Patient.rs')).status, 200, 'the running config (with newbie) still works');
  const after = await getOn(agent, `${gw.url}/Patient/r1`, token);
  t.equal(after.status, 429, 'and its rate limit still applies to the old client too');
  t.ok(after.reused, 'on the same connection');

  gw.kill('SIGTERM');
  t.same(await gw.exited, { code: 0, signal: null });
  t.ok(gw.logs.some((l) => l.msg === 'configuration reloaded'), 'the good reload was logged');
});

t.test('key file with several keys: the first signs, all verify, JWKS lists all', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fhirgw-keys-'));
  const [newest, older, foreign] = await Promise.all([generateSigningJwk(), generateSigningJwk(), generateSigningJwk()]);
  const file = join(dir, 'keys.json');
  writeFileSync(file, JSON.stringify({ keys: [newest, older] }));
  const stack = await startStack(t, { store: 'memory', edit: (raw) => (raw.tokens.signing_key_file = file) });
  const base = stack.gateway.url;
  await stack.upstream.seed([{ resourceType: 'Patient', id: 'k1' }] as never);
  const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: { kid: string; d?: string }[] };
  t.same(jwks.keys.map((k) => k.kid), [newest.kid, older.kid], 'both keys published, newest first');
  t.notOk(jwks.keys.some((k) => 'd' in k), 'no private part published');
  const issued = await clientToken(base, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  t.equal(kidOf(issued), newest.kid, 'new tokens are signed by the first key');

  const ringOf = async (jwk: object): Promise<KeyRing> => {
    const one = join(dir, `one-${Math.random()}.json`);
    writeFileSync(one, JSON.stringify(jwk));
    return loadKeyRing({ signingKeyFile: one, store: new MemoryStore(), log: quiet });
  };
  const settings = stack.gateway.runtime.get().tokens;
  const sub = { sub: 'backend', client_id: 'backend', scope: 'system/Patient.rs' };
  const byOlder = await issueAccessToken(await ringOf(older), settings, sub);
  const byForeign = await issueAccessToken(await ringOf(foreign), settings, sub);
  const get = async (token: string) => {
    const res = await fetch(`${base}/Patient/k1`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.status;
  };
  t.equal(await get(byOlder.token), 200, 'a token signed by the older key in the file verifies');
  t.equal(await get(issued), 200);
  t.equal(await get(byForeign.token), 401, 'a key not in the file does not');

  // Rotating the file: the older key leaves after its tokens expired; reload picks it up.
  writeFileSync(file, JSON.stringify({ keys: [foreign, newest] }));
  await stack.gateway.reload(parseConfig(JSON.stringify({ ...baseRawConfig(0, stack.upstream.baseUrl), server: stack.config.server, tokens: { access_token_ttl: '5m', signing_key_file: file } }), 'x.yaml', {}));
  t.equal(await get(byForeign.token), 200, 'after the reload the new key verifies');
  t.equal(await get(byOlder.token), 401, 'and the removed key no longer does');
  t.equal(kidOf(await clientToken(base, 'backend', BACKEND_SECRET, 'system/Patient.rs')), foreign.kid, 'and the new first key signs');
});

t.test('generated keys per epoch: agreed through the store, next pre-published, old ones verify until their tokens expired', async (t) => {
  const store = new MemoryStore();
  t.teardown(() => store.close());
  const R = 60;
  const t0 = 1_800_000_000_000; // an epoch boundary would be a multiple of 60 000 ms; this one is mid-epoch
  const ring = (now: number, s = store) => loadKeyRing({ keyRotation: R, verifyWindowSeconds: 150, store: s, log: quiet, now: () => now });
  const a = await ring(t0);
  const b = await ring(t0 + 5_000);
  t.same(b.jwks().keys.map((k) => k.kid), a.jwks().keys.map((k) => k.kid), 'two instances (same store) agree on every key');
  t.equal(a.jwks().keys.length, 5, 'current + next + ceil(150 / 60) = 3 previous epochs');
  const [current, next] = a.jwks().keys.map((k) => k.kid);
  t.equal(a.signing.kid, current, 'the current epoch signs');

  const later = await ring(t0 + R * 1000);
  t.equal(later.signing.kid, next, 'one epoch later the pre-published key signs');
  t.ok(later.byKid.has(current!), 'and the previous one still verifies');
  // The key of epoch e signs until (e+1)·60 s and must verify until (e+1)·60 + 150 s = (e+3.5)·60 s.
  const muchLater = await ring(t0 + 3 * R * 1000);
  t.ok(muchLater.byKid.has(current!), 'three epochs later it still verifies (its last tokens may live until then)');
  const gone = await ring(t0 + 4 * R * 1000);
  t.notOk(gone.byKid.has(current!), 'dropped once every token it signed has expired');
  t.equal(gone.jwks().keys.length, 5, 'the ring does not grow');
});

t.test('generated rotating keys are shared by instances on one Redis', async (t) => {
  const redis = await startRedisServerFor(t);
  const one = createStore({ url: redis.url, key_prefix: 'rot:' }, quiet);
  const two = createStore({ url: redis.url, key_prefix: 'rot:' }, quiet);
  await Promise.all([one.connect(), two.connect()]);
  t.teardown(async () => {
    await one.close();
    await two.close();
  });
  const now = Date.now();
  const [a, b] = await Promise.all(
    [one, two].map((store) => loadKeyRing({ keyRotation: 3600, verifyWindowSeconds: 3630, store, log: quiet, now: () => now })),
  );
  t.same(a!.jwks().keys.map((k) => k.kid), b!.jwks().keys.map((k) => k.kid), 'concurrent first loads agree (setIfAbsent)');
  const control = new Redis(redis.url, { retryStrategy: () => null });
  const ttl = await control.pttl(`rot:value:signing-keys:3600s:${Math.floor(now / 1000 / 3600)}`);
  control.disconnect();
  t.ok(ttl > 0, 'epoch keys expire from Redis on their own');
});

t.test('tokens.key_rotation in a running gateway: the signing key changes each epoch, older tokens still verify', async (t) => {
  const stack = await startStack(t, {
    store: 'redis',
    edit: (raw) => (raw.tokens = { access_token_ttl: '20s', clock_skew: '1s', key_rotation: '2s' }),
  });
  const base = stack.gateway.url;
  await stack.upstream.seed([{ resourceType: 'Patient', id: 'rot1' }] as never);
  const jwksKids = async () => ((await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
  const first = await clientToken(base, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const kids = await jwksKids();
  t.equal(kids[0], kidOf(first), 'the first JWKS key signs');
  const prepublished = kids[1];
  let rotated: string | undefined;
  await waitFor(
    async () => {
      rotated = await clientToken(base, 'backend', BACKEND_SECRET, 'system/Patient.rs');
      return kidOf(rotated) !== kidOf(first);
    },
    15_000,
    'the signing key rotates',
    200,
  );
  t.ok([prepublished, (await jwksKids())[0]].includes(kidOf(rotated!)), 'the new signing key is the one published in advance (or a later one on a slow machine)');
  t.ok((await jwksKids()).includes(kidOf(first)), 'the old key is still in the JWKS');
  const res = await fetch(`${base}/Patient/rot1`, { headers: { authorization: `Bearer ${first}` } });
  t.equal(res.status, 200, 'a token signed before the rotation still verifies');
  await res.arrayBuffer();
});
