import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { GOOGLE_DEFAULT_SCOPE, JWT_BEARER_GRANT } from '../../../gateway/upstream/credentials/google-service-account.js';
import { startGuardedUpstream } from '../../support/guarded-upstream.js';
import { startTokenServer } from '../../support/oidc-token-server.js';
import { callGateway, diagnosticsOf, startUpstreamGateway } from '../../support/upstream-gateway.js';

/**
 * Issue 11, the other kinds of upstream.auth end to end through the compiled CLI gateway, each
 * against an upstream that accepts only its credential: a fixed header, HTTP Basic,
 * private_key_jwt (oidc-provider verifies the assertion) and google_service_account (a local
 * JWT-bearer endpoint verifies the assertion with the key file's key). The two forwarders take
 * turns.
 */

const dir = mkdtempSync(join(tmpdir(), 'fhirgw-auth-kinds-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('header: the configured header with its value, a client-sent one never; a 401 is not retried', async (t) => {
  const KEY = 'api-key-0123456789abcdef';
  const upstream = await startGuardedUpstream(t, async (headers) => headers['x-api-key'] === KEY);
  await upstream.fhir.seed([{ resourceType: 'Patient', id: 'p1' }] as never);
  const { gw, mint } = await startUpstreamGateway(t, {
    upstream: { url: upstream.baseUrl, auth: { type: 'header', header: { name: 'X-Api-Key', value: '${FHIR_API_KEY}' } } },
    forwarder: 'http-proxy',
    env: { FHIR_API_KEY: KEY },
  });
  const token = await mint({ sub: 'backend', client_id: 'backend', scope: 'system/*.rs' });
  const answer = await callGateway(gw.url, 'GET', '/Patient/p1', { headers: { authorization: `Bearer ${token}`, 'X-Api-Key': 'stolen', X_Api_Key: 'stolen-too' } });
  t.equal(answer.status, 200);
  t.equal(answer.json.id, 'p1');
  const seen = upstream.requests.at(-1)!.headers;
  t.equal(seen['x-api-key'], KEY, 'the configured value, not the client\'s');
  t.notOk('x_api_key' in seen, 'the underscore spelling is removed');
  t.notOk(seen.authorization, 'the client\'s access token is not forwarded');

  upstream.refuseAll(true);
  const before = upstream.requests.length;
  const refused = await callGateway(gw.url, 'GET', '/Patient/p1', { headers: { authorization: `Bearer ${token}` } });
  t.equal(refused.status, 502);
  t.match(diagnosticsOf(refused), /refused the gateway's upstream credentials/);
  t.equal(upstream.requests.length - before, 1, 'a fixed header is not sent twice');

  await gw.stop();
  t.notOk((gw.stdout() + gw.stderr()).includes(KEY), 'the key is never logged');
});

t.test('basic: Authorization Basic in UTF-8 instead of the client\'s token', async (t) => {
  const username = 'fhir-gateway';
  const password = 'pässword: with colon';
  const expected = `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
  const upstream = await startGuardedUpstream(t, async (headers) => headers.authorization === expected);
  await upstream.fhir.seed([{ resourceType: 'Patient', id: 'p1' }] as never);
  const { gw, call, mint } = await startUpstreamGateway(t, {
    upstream: { url: upstream.baseUrl, auth: { type: 'basic', basic: { username, password: '${FHIR_PASSWORD}' } } },
    forwarder: 'undici',
    env: { FHIR_PASSWORD: password },
  });
  const token = await mint({ sub: 'backend', client_id: 'backend', scope: 'system/*.rs' });
  const answer = await call(token, 'GET', '/Patient/p1');
  t.equal(answer.status, 200);
  t.equal(upstream.requests.at(-1)!.headers.authorization, expected);
  const metadata = await call(token, 'GET', '/metadata');
  t.equal(metadata.status, 200, '/metadata with Basic too');
  t.equal(upstream.requests.at(-1)!.headers.authorization, expected);
  await gw.stop();
  t.notOk((gw.stdout() + gw.stderr()).includes(password), 'the password is never logged');
  t.notOk((gw.stdout() + gw.stderr()).includes(expected.slice('Basic '.length)), 'nor its Basic form');
});

t.test('private_key_jwt: the token endpoint verifies the gateway\'s SMART Backend Services assertion', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const kid = 'gw-es384';
  const keyFile = join(dir, 'upstream-client.jwk.json');
  const privateJwk = { ...(await exportJWK(privateKey)), kid };
  writeFileSync(keyFile, JSON.stringify(privateJwk));
  const server = await startTokenServer(t, {
    clients: [{ client_id: 'gw-backend', token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES384', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES384' }] } }],
  });
  const upstream = await startGuardedUpstream(t, async (headers) => {
    const match = /^Bearer (.+)$/.exec(headers.authorization ?? '');
    return match !== null && (await server.verify(match[1]!)) !== undefined;
  });
  await upstream.fhir.seed([{ resourceType: 'Patient', id: 'p1' }] as never);
  const { gw, call, mint } = await startUpstreamGateway(t, {
    upstream: { url: upstream.baseUrl, auth: { type: 'private_key_jwt', issuer: server.issuer, client_id: 'gw-backend', signing_key_file: keyFile, scope: 'system/*.rs' } },
    forwarder: 'http-proxy',
  });
  const token = await mint({ sub: 'backend', client_id: 'backend', scope: 'system/*.rs' });
  const answers = await Promise.all(Array.from({ length: 10 }, () => call(token, 'GET', '/Patient/p1')));
  t.same(new Set(answers.map((a) => a.status)), new Set([200]), 'discovered the token endpoint, got a token, the upstream accepts it');
  t.equal(server.tokenRequests(), 1);
  const form = new URLSearchParams(server.bodies[0]);
  t.equal(form.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  t.match(decodeProtectedHeader(form.get('client_assertion')!), { alg: 'ES384', kid });
  await gw.stop();
  t.notOk((gw.stdout() + gw.stderr()).includes(form.get('client_assertion')!), 'the assertion is never logged');
  t.notOk((gw.stdout() + gw.stderr()).includes(String(privateJwk.d)), 'nor the key');
});

t.test('google_service_account: a JWT-bearer grant signed with the key file\'s key', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const issued = new Set<string>();
  const assertions: string[] = [];
  let tokenUri = '';
  const tokenEndpoint = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const assertion = form.get('assertion') ?? '';
      assertions.push(assertion);
      const refuse = () => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }));
      };
      if (form.get('grant_type') !== JWT_BEARER_GRANT) return refuse();
      jwtVerify(assertion, publicKey, { algorithms: ['RS256'], issuer: 'fhir-gw@project.iam.gserviceaccount.com', audience: tokenUri, maxTokenAge: 3600 })
        .then(({ payload }) => {
          if (payload['scope'] !== GOOGLE_DEFAULT_SCOPE) return refuse();
          const token = `ya29.test-${issued.size + 1}`;
          issued.add(token);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3599 }));
        })
        .catch(refuse);
    });
  });
  await new Promise<void>((resolve) => tokenEndpoint.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    tokenEndpoint.closeAllConnections();
    tokenEndpoint.close();
  });
  tokenUri = `http://127.0.0.1:${(tokenEndpoint.address() as AddressInfo).port}/token`;
  const keyFile = join(dir, 'service-account.json');
  const pemKey = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  writeFileSync(
    keyFile,
    JSON.stringify({ type: 'service_account', project_id: 'project', private_key_id: 'key-id-1', private_key: pemKey, client_email: 'fhir-gw@project.iam.gserviceaccount.com', token_uri: tokenUri }),
  );

  const upstream = await startGuardedUpstream(t, async (headers) => issued.has((headers.authorization ?? '').replace(/^Bearer /, '')));
  await upstream.fhir.seed([{ resourceType: 'Patient', id: 'p1' }] as never);
  const { gw, call, mint } = await startUpstreamGateway(t, {
    upstream: { url: upstream.baseUrl, auth: { type: 'google_service_account', key_file: keyFile } },
    forwarder: 'undici',
  });
  const token = await mint({ sub: 'backend', client_id: 'backend', scope: 'system/*.rs' });
  const answer = await call(token, 'GET', '/Patient/p1');
  t.equal(answer.status, 200);
  t.equal(upstream.requests.at(-1)!.headers.authorization, 'Bearer ya29.test-1');
  t.equal(assertions.length, 1);
  t.match(decodeProtectedHeader(assertions[0]!), { alg: 'RS256', kid: 'key-id-1' });
  const ready = await fetch(`${gw.url}/readyz`);
  t.equal(ready.status, 200, 'ready with the cached token');
  await gw.stop();
  const logged = gw.stdout() + gw.stderr();
  t.notOk(logged.includes('ya29.test-1'), 'the token is never logged');
  t.notOk(logged.includes(assertions[0]!), 'nor the assertion');
});
