import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { request } from 'undici';
import type { UpstreamConfig } from '../../../../config/types.js';
import { readUpstreamFiles } from '../../../../config/upstream-files.js';
import { createLogger } from '../../../../gateway/process/logger.js';
import { createUpstreamCredentials } from '../../../../gateway/upstream/credentials/create-credentials.js';
import type { TokenRequestEvent, UpstreamCredentials } from '../../../../gateway/upstream/credentials/upstream-credentials.js';
import { upstreamTls } from '../../../../gateway/upstream/tls.js';
import { startGuardedUpstream } from '../../../support/guarded-upstream.js';
import { startTokenServer, type TokenServer } from '../../../support/oidc-token-server.js';

/**
 * client_credentials and private_key_jwt against a real authorization server (oidc-provider),
 * used the way the forwarders will use them: towards the Medplum FHIR server behind a check that
 * accepts only that server's tokens for it.
 */

const SECRET = 'gw-secret: with +%& and spaces';

/** The gateway's real logger, writing into an array the test reads. */
function capturedLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { log: createLogger({ level: 'debug' }, stream), lines };
}

function credentialsFor(upstream: UpstreamConfig, extra: { now?: () => number; failureHoldMs?: number } = {}) {
  const { files, problems } = readUpstreamFiles(upstream);
  if (problems.length > 0) throw new Error(JSON.stringify(problems));
  const { log, lines } = capturedLogger();
  const events: TokenRequestEvent[] = [];
  const credentials = createUpstreamCredentials({
    upstream,
    files,
    tls: upstreamTls(upstream.tls, files.tls, log),
    log,
    onTokenRequest: (event) => events.push(event),
    ...extra,
  });
  return { credentials, lines, events };
}

const upstreamConfig = (auth: UpstreamConfig['auth'], timeout = 5): UpstreamConfig => ({
  url: 'https://fhir.test/fhir',
  timeout,
  max_sockets: 4,
  forwarder: 'undici',
  ...(auth !== undefined ? { auth } : {}),
});

async function getPatients(baseUrl: string, headers: Readonly<Record<string, string>>): Promise<number> {
  const answer = await request(`${baseUrl}/Patient`, { headers: { ...headers } });
  await answer.body.dump();
  return answer.statusCode;
}

/** What a forwarder does with a 401: report it, get new credentials, retry once. */
async function getWithRetry(baseUrl: string, credentials: UpstreamCredentials): Promise<number> {
  const headers = await credentials.authorize();
  const status = await getPatients(baseUrl, headers);
  if (status !== 401 || !credentials.renewable) return status;
  credentials.refused(headers);
  return getPatients(baseUrl, await credentials.authorize());
}

function assertNoSecrets(t: Test, lines: string[], secrets: string[]): void {
  for (const secret of secrets) {
    t.notOk(
      lines.some((line) => line.includes(secret)),
      `no log line contains ${secret.slice(0, 12)}...`,
    );
  }
}

async function guardedBy(t: Test, server: TokenServer) {
  return startGuardedUpstream(t, async (headers) => {
    const match = /^Bearer (.+)$/.exec(headers.authorization ?? '');
    if (!match) return false;
    await server.verify(match[1]!);
    return true;
  });
}

t.test('client_credentials: one token for concurrent callers, a refused token is replaced once, nothing secret is logged', async (t) => {
  const server = await startTokenServer(t, { clients: [{ client_id: 'fhir-gateway', client_secret: SECRET, token_endpoint_auth_method: 'client_secret_basic' }] });
  const upstream = await guardedBy(t, server);
  const { credentials, lines, events } = credentialsFor(
    upstreamConfig({ type: 'client_credentials', token_url: server.tokenUrl, client_id: 'fhir-gateway', client_secret: SECRET, scope: 'system/Patient.rs', audience: server.resource }),
  );
  t.teardown(() => credentials.close());
  t.equal(credentials.renewable, true);

  const headers = await Promise.all(Array.from({ length: 40 }, () => credentials.authorize()));
  t.equal(server.tokenRequests(), 1, 'one token request for 40 concurrent callers');
  t.ok(headers.every((h) => h.authorization === headers[0]!.authorization), 'all of them got the same token');
  const claims = await server.verify(headers[0]!.authorization!.slice('Bearer '.length));
  t.equal(claims['client_id'], 'fhir-gateway');
  t.equal(claims['scope'], 'system/Patient.rs', 'the configured scope was asked for and granted');
  t.match(server.bodies[0], /(^|&)resource=https%3A%2F%2Ffhir\.test%2Ffhir(&|$)/, 'audience sent as RFC 8707 resource');
  t.match(server.bodies[0], /(^|&)audience=https%3A%2F%2Ffhir\.test%2Ffhir(&|$)/, 'and as audience');
  t.notMatch(server.bodies[0], /client_secret/, 'client_secret_basic: the secret is not in the body');

  const statuses = await Promise.all(Array.from({ length: 10 }, () => getWithRetry(upstream.baseUrl, credentials)));
  t.same(new Set(statuses), new Set([200]), 'the guarded FHIR server accepts the token');
  t.equal(server.tokenRequests(), 1, 'still one token');

  // The upstream stops accepting the token: every request in flight gets one 401 and one retry.
  upstream.revoke(headers[0]!.authorization!);
  const refusalsBefore = upstream.refusals();
  const retried = await Promise.all(Array.from({ length: 10 }, () => getWithRetry(upstream.baseUrl, credentials)));
  t.same(new Set(retried), new Set([200]), 'each request succeeds on its single retry');
  t.equal(upstream.refusals() - refusalsBefore, 10, 'exactly one 401 per request');
  t.equal(server.tokenRequests(), 2, 'ten refusals of one token cause one new token');

  t.same(credentials.status(), { ok: true });
  t.same(
    events.map((e) => [e.kind, e.outcome]),
    [
      ['client_credentials', 'ok'],
      ['client_credentials', 'ok'],
    ],
    'one metric event per token request',
  );
  assertNoSecrets(t, lines, [SECRET, headers[0]!.authorization!.slice(7), Buffer.from(`fhir-gateway:${encodeURIComponent(SECRET)}`).toString('base64').slice(0, 20)]);
});

t.test('client_credentials with issuer: the token endpoint is discovered and the issuer must match', async (t) => {
  const server = await startTokenServer(t, { clients: [{ client_id: 'gw', client_secret: SECRET, token_endpoint_auth_method: 'client_secret_basic' }] });
  const { credentials } = credentialsFor(upstreamConfig({ type: 'client_credentials', issuer: server.issuer, client_id: 'gw', client_secret: SECRET }));
  t.teardown(() => credentials.close());
  const headers = await credentials.authorize();
  await server.verify(headers.authorization!.slice(7));
  t.equal(server.tokenRequests(), 1);

  // A metadata document that names another issuer is refused: the secret never goes to its token endpoint.
  let stolen = 0;
  const impostor = createServer((req, res) => {
    if (req.url === '/token') stolen++;
    res.writeHead(req.url?.includes('.well-known') ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ issuer: 'https://somebody-else.example', token_endpoint: `http://127.0.0.1:${(impostor.address() as AddressInfo).port}/token` }));
  });
  await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => impostor.close(() => resolve())));
  const issuer = `http://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
  const { credentials: misled, lines } = credentialsFor(upstreamConfig({ type: 'client_credentials', issuer, client_id: 'gw', client_secret: SECRET }));
  t.teardown(() => misled.close());
  await t.rejects(misled.authorize(), { name: 'UpstreamCredentialsError', failure: 'discovery', message: /names another issuer/ });
  t.equal(stolen, 0, 'nothing was sent to the impostor token endpoint');
  t.match(misled.status(), { ok: false, reason: /discovery of http:\/\/127\.0\.0\.1:\d+ failed/ });
  t.equal(lines.filter((line) => line.includes('cannot get a token for the upstream')).length, 1, 'one warning line');
});

t.test('tokens are renewed before they expire (real clock, 3 s tokens)', async (t) => {
  const server = await startTokenServer(t, { accessTokenTtl: 3, clients: [{ client_id: 'gw', client_secret: SECRET, token_endpoint_auth_method: 'client_secret_basic' }] });
  const { credentials } = credentialsFor(upstreamConfig({ type: 'client_credentials', token_url: server.tokenUrl, client_id: 'gw', client_secret: SECRET }));
  t.teardown(() => credentials.close());
  const seen = new Set<string>();
  let expiredUse = 0;
  const started = Date.now();
  while (Date.now() - started < 4_500) {
    const { authorization } = await credentials.authorize();
    seen.add(authorization!);
    // Checked the moment it is used, as the upstream would, with no clock tolerance.
    await server.verify(authorization!.slice(7)).catch(() => expiredUse++);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.equal(expiredUse, 0, 'no request ever carried an expired token');
  t.ok(seen.size >= 2 && seen.size <= 4, `renewed along the way (${seen.size} tokens in 4.5 s)`);
  t.equal(server.tokenRequests(), seen.size, 'one token request per token');
});

t.test('failures: each is an UpstreamCredentialsError naming what went wrong, with one log line and no secret', async (t) => {
  const server = await startTokenServer(t, { clients: [{ client_id: 'gw', client_secret: SECRET, token_endpoint_auth_method: 'client_secret_basic' }] });

  t.test('wrong secret: refused with the OAuth error code', async (t) => {
    const wrong = 'not-the-secret-0123456789';
    const { credentials, lines, events } = credentialsFor(upstreamConfig({ type: 'client_credentials', token_url: server.tokenUrl, client_id: 'gw', client_secret: wrong }));
    t.teardown(() => credentials.close());
    const error = await credentials.authorize().catch((err: unknown) => err);
    t.match(error, { name: 'UpstreamCredentialsError', failure: 'refused', message: /refused the gateway's token request \(HTTP 401, invalid_client/ });
    t.match(credentials.status(), { ok: false, reason: /invalid_client/ });
    t.same(events.map((e) => [e.outcome, e.failure]), [['error', 'refused']]);
    await t.rejects(credentials.authorize(), { name: 'UpstreamCredentialsError', failure: 'refused' });
    t.equal(events.length, 1, 'a second caller within the hold does not ask again');
    t.equal(lines.filter((line) => line.includes('"level":40')).length, 1, 'one warning');
    assertNoSecrets(t, lines, [wrong]);
  });

  t.test('outage, then recovery', async (t) => {
    const { credentials, lines, events } = credentialsFor(upstreamConfig({ type: 'client_credentials', token_url: server.tokenUrl, client_id: 'gw', client_secret: SECRET }), { failureHoldMs: 50 });
    t.teardown(() => credentials.close());
    server.failWith({ status: 503, body: { message: 'maintenance' } });
    await t.rejects(credentials.authorize(), { name: 'UpstreamCredentialsError', failure: 'http_error', message: /answered HTTP 503/ });
    server.failWith({ status: 200, body: { access_token: 'abc', token_type: 'DPoP', expires_in: 60 } });
    await new Promise((resolve) => setTimeout(resolve, 60));
    await t.rejects(credentials.authorize(), { name: 'UpstreamCredentialsError', failure: 'invalid_response', message: /type "DPoP"; the gateway sends Bearer tokens only/ });
    server.failWith({ status: 200, body: { access_token: 'a b\r\nX-Injected: 1', token_type: 'Bearer', expires_in: 60 } });
    await new Promise((resolve) => setTimeout(resolve, 60));
    await t.rejects(credentials.authorize(), { name: 'UpstreamCredentialsError', failure: 'invalid_response', message: /without a usable access_token/ }, 'a token that cannot go in a header is refused');
    server.failWith(undefined);
    await new Promise((resolve) => setTimeout(resolve, 60));
    const headers = await credentials.authorize();
    await server.verify(headers.authorization!.slice(7));
    t.same(credentials.status(), { ok: true });
    t.same(events.map((e) => e.outcome), ['error', 'error', 'error', 'ok']);
    t.equal(lines.filter((line) => line.includes('cannot get a token for the upstream')).length, 1, 'one warning for the whole outage');
    t.equal(lines.filter((line) => line.includes('upstream token obtained again')).length, 1, 'one line when it works again');
  });

  t.test('unreachable and timeout', async (t) => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { credentials } = credentialsFor(upstreamConfig({ type: 'client_credentials', token_url: `http://127.0.0.1:${port}/token`, client_id: 'gw', client_secret: SECRET }));
    t.teardown(() => credentials.close());
    await t.rejects(credentials.authorize(), { name: 'UpstreamCredentialsError', failure: 'unreachable', message: /could not be reached \(ECONNREFUSED\)/ });

    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.teardown(() => {
      silent.closeAllConnections();
      silent.close();
    });
    const { credentials: slow } = credentialsFor(
      upstreamConfig({ type: 'client_credentials', token_url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/token`, client_id: 'gw', client_secret: SECRET }, 1),
    );
    t.teardown(() => slow.close());
    const started = Date.now();
    await t.rejects(slow.authorize(), { name: 'UpstreamCredentialsError', failure: 'timeout', message: /did not answer within 1s/ });
    t.ok(Date.now() - started < 3_000, 'gave up after upstream.timeout');
  });
});

t.test('private_key_jwt: SMART Backend Services assertions with RS384 and ES384', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fhirgw-pkjwt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  for (const alg of ['RS384', 'ES384'] as const) {
    t.test(alg, async (t) => {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      const kid = `gw-${alg.toLowerCase()}`;
      const keyFile = join(dir, `${alg}.jwk.json`);
      const privateJwk = await exportJWK(privateKey);
      writeFileSync(keyFile, JSON.stringify(privateJwk));
      const server = await startTokenServer(t, {
        clients: [{ client_id: 'gw-backend', token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: alg, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg }] } }],
      });
      const upstream = await guardedBy(t, server);
      const { credentials, lines } = credentialsFor(
        upstreamConfig({ type: 'private_key_jwt', token_url: server.tokenUrl, client_id: 'gw-backend', signing_key_file: keyFile, kid, scope: 'system/*.rs' }),
      );
      t.teardown(() => credentials.close());

      const statuses = await Promise.all(Array.from({ length: 5 }, () => getWithRetry(upstream.baseUrl, credentials)));
      t.same(new Set(statuses), new Set([200]), 'the token endpoint verified the assertion and the FHIR server accepts the token');
      t.equal(server.tokenRequests(), 1);

      const form = new URLSearchParams(server.bodies[0]);
      t.equal(form.get('grant_type'), 'client_credentials');
      t.equal(form.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      const assertion = form.get('client_assertion')!;
      t.match(decodeProtectedHeader(assertion), { alg, kid, typ: 'JWT' });
      const claims = decodeJwt(assertion);
      t.match(claims, { iss: 'gw-backend', sub: 'gw-backend', aud: server.tokenUrl });
      t.type(claims.jti, 'string');
      t.ok(claims.exp! - Math.floor(Date.now() / 1000) <= 60, 'exp at most a minute away (SMART: at most five)');

      // A refused token: the next token request carries a new assertion with a new jti.
      const current = await credentials.authorize();
      upstream.revoke(current.authorization!);
      t.equal(await getWithRetry(upstream.baseUrl, credentials), 200);
      t.equal(server.tokenRequests(), 2);
      const second = decodeJwt(new URLSearchParams(server.bodies[1]).get('client_assertion')!);
      t.not(second.jti, claims.jti, 'a fresh jti for every assertion (the server refuses replays)');
      assertNoSecrets(t, lines, [assertion, String(privateJwk.d)]);
    });
  }
});
