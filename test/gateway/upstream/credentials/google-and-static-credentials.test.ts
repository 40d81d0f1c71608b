import t from 'tap';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { UpstreamConfig } from '../../../../config/types.js';
import { readUpstreamFiles } from '../../../../config/upstream-files.js';
import { createUpstreamCredentials } from '../../../../gateway/upstream/credentials/create-credentials.js';
import { GOOGLE_DEFAULT_SCOPE, JWT_BEARER_GRANT } from '../../../../gateway/upstream/credentials/google-service-account.js';
import { upstreamTls } from '../../../../gateway/upstream/tls.js';
import { startGuardedUpstream } from '../../../support/guarded-upstream.js';
import { makeTestPki } from '../../../support/test-pki.js';

/**
 * google_service_account against a local JWT-bearer token endpoint (RFC 7523 §2.1) that checks
 * the assertion with the key file's public key, served over https with a CA made in the test
 * (so the token request goes through upstream.tls); and the static kinds, header and basic.
 */

function credentialsFor(upstream: UpstreamConfig) {
  const { files, problems } = readUpstreamFiles(upstream);
  if (problems.length > 0) throw new Error(JSON.stringify(problems));
  return createUpstreamCredentials({ upstream, files, tls: upstreamTls(upstream.tls, files.tls) });
}

t.test('google_service_account: an RS256 assertion the token endpoint verifies with the key file\'s key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fhirgw-gsa-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pki = makeTestPki(t);
  const ca = pki.ca('google-test-ca');
  const serverCert = ca.server('oauth2-local', ['127.0.0.1']);

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const issued: string[] = [];
  const assertions: string[] = [];
  let tokenUri = '';
  const tokenEndpoint = createServer({ cert: serverCert.cert, key: serverCert.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const assertion = form.get('assertion') ?? '';
      assertions.push(assertion);
      const refuse = (description: string) => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_grant', error_description: description }));
      };
      if (form.get('grant_type') !== JWT_BEARER_GRANT) return refuse('wrong grant_type');
      jwtVerify(assertion, publicKey, { algorithms: ['RS256'], issuer: 'fhir-gw@project.iam.gserviceaccount.com', audience: tokenUri, maxTokenAge: 3600 })
        .then(({ payload }) => {
          const token = `ya29.test-${issued.length + 1}`;
          issued.push(`${token} ${String(payload['scope'])}`);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3599 }));
        })
        .catch(() => refuse('Invalid JWT Signature.'));
    });
  });
  await new Promise<void>((resolve) => tokenEndpoint.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    tokenEndpoint.closeAllConnections();
    tokenEndpoint.close();
  });
  tokenUri = `https://127.0.0.1:${(tokenEndpoint.address() as AddressInfo).port}/token`;

  const keyFile = join(dir, 'service-account.json');
  writeFileSync(
    keyFile,
    JSON.stringify({
      type: 'service_account',
      project_id: 'project',
      private_key_id: 'key-id-1',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: 'fhir-gw@project.iam.gserviceaccount.com',
      client_id: '1234567890',
      token_uri: tokenUri,
    }),
  );

  const upstream = await startGuardedUpstream(t, async (headers) => issued.some((entry) => headers.authorization === `Bearer ${entry.split(' ')[0]}`));
  const config = (extra: Partial<UpstreamConfig>): UpstreamConfig => ({
    url: upstream.baseUrl,
    timeout: 5,
    max_sockets: 4,
    forwarder: 'undici',
    tls: { ca_file: ca.certFile, allow_insecure: false },
    ...extra,
  });

  const credentials = credentialsFor(config({ auth: { type: 'google_service_account', key_file: keyFile } }));
  t.teardown(() => credentials.close());
  const headers = await Promise.all(Array.from({ length: 20 }, () => credentials.authorize()));
  t.equal(issued.length, 1, 'one token for 20 callers');
  t.same(headers[0], { authorization: 'Bearer ya29.test-1' });
  t.equal(issued[0], `ya29.test-1 ${GOOGLE_DEFAULT_SCOPE}`, 'the cloud-platform scope unless one is set');
  t.match(decodeProtectedHeader(assertions[0]!), { alg: 'RS256', kid: 'key-id-1', typ: 'JWT' });

  const answer = await fetch(`${upstream.baseUrl}/Patient`, { headers: { ...headers[0] } });
  t.equal(answer.status, 200, 'the guarded FHIR server accepts the token');

  const scoped = credentialsFor(config({ auth: { type: 'google_service_account', key_file: keyFile, scope: 'https://www.googleapis.com/auth/cloud-healthcare' } }));
  t.teardown(() => scoped.close());
  await scoped.authorize();
  t.equal(issued[1], 'ya29.test-2 https://www.googleapis.com/auth/cloud-healthcare', 'scope overrides the default');

  // Without the private CA, the token endpoint's certificate is not trusted: named, not hidden.
  const untrusting = credentialsFor(config({ auth: { type: 'google_service_account', key_file: keyFile }, tls: { allow_insecure: false } }));
  t.teardown(() => untrusting.close());
  await t.rejects(untrusting.authorize(), { name: 'UpstreamCredentialsError', failure: 'tls', message: /certificate is not signed by a trusted CA \(unknown CA/ });
  t.equal(issued.length, 2, 'no token was issued over the untrusted connection');
});

t.test('header and basic: fixed headers, not renewable, always ready', async (t) => {
  const upstream = await startGuardedUpstream(t, async (headers) => headers['x-api-key'] === 'k3y' || headers.authorization === `Basic ${Buffer.from('gw:pä55').toString('base64')}`);
  const base: UpstreamConfig = { url: upstream.baseUrl, timeout: 5, max_sockets: 4, forwarder: 'undici' };

  const header = credentialsFor({ ...base, auth: { type: 'header', header: { name: 'X-API-Key', value: 'k3y' } } });
  t.same(await header.authorize(), { 'x-api-key': 'k3y' });
  t.equal(header.renewable, false, 'a retry after a 401 would send the same key');
  t.same(header.status(), { ok: true });
  t.equal((await fetch(`${upstream.baseUrl}/Patient`, { headers: { ...(await header.authorize()) } })).status, 200);

  const basic = credentialsFor({ ...base, auth: { type: 'basic', basic: { username: 'gw', password: 'pä55' } } });
  t.same(await basic.authorize(), { authorization: `Basic ${Buffer.from('gw:pä55', 'utf8').toString('base64')}` }, 'RFC 7617 §2.1: UTF-8');
  t.equal((await fetch(`${upstream.baseUrl}/Patient`, { headers: { ...(await basic.authorize()) } })).status, 200);

  const none = credentialsFor(base);
  t.same(await none.authorize(), {}, 'no auth section: nothing is added');
  t.equal(none.kind, 'none');
  t.equal((await fetch(`${upstream.baseUrl}/Patient`, { headers: { ...(await none.authorize()) } })).status, 401);
  await Promise.all([header.close(), basic.close(), none.close()]);
});
