import t from 'tap';
import { createHmac, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import Koa from 'koa';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { OAuthError } from '../../../authz/oauth/oauth-error.js';
import { jsonErrors } from '../../../authz/oauth/steps/json-errors.js';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { freePort } from '../../support/free-port.js';
import { startGatewayProcess } from '../../support/gateway-process.js';
import { BACKEND_SECRET, baseRawConfig } from '../../support/stack.js';

/**
 * Issue 12, item 2: one rule for failed client authentication at every endpoint that
 * authenticates clients (token, introspection, revocation), driven through the CLI-started
 * gateway. Tried the Authorization header -> 401 with a Basic challenge; authenticated in the body
 * or not at all -> 400. Whatever the case, no 401 without WWW-Authenticate (RFC 9110 §15.5.2).
 */

const FORM = 'application/x-www-form-urlencoded';
const CHALLENGE = 'Basic realm="fhir-oauth-gateway", charset="UTF-8"';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

t.test('client authentication failures at the token, introspection and revocation endpoints', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const stranger = await generateKeyPair('ES384');
  const publicJwk = { ...(await exportJWK(publicKey)), kid: 'key-1', alg: 'ES384', use: 'sig' };
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  const raw = baseRawConfig(await freePort(), upstream.baseUrl);
  raw.audit = { enabled: false };
  raw.clients.push(
    { client_id: 'jwt-backend', token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials'], scope: 'system/Patient.rs', jwks: { keys: [publicJwk] } },
    { client_id: 'spa', token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], scope: 'patient/*.rs', redirect_uris: ['https://spa.example.org/cb'] },
  );
  const gw = await startGatewayProcess(t, { config: raw });
  const tokenEndpoint = `${gw.url}/oauth/token`;

  const now = Math.floor(Date.now() / 1000);
  const claims = (overrides: JWTPayload = {}): JWTPayload => ({ iss: 'jwt-backend', sub: 'jwt-backend', aud: tokenEndpoint, jti: randomUUID(), iat: now, exp: now + 120, ...overrides });
  const sign = (payload: JWTPayload, key: CryptoKey | Uint8Array = privateKey as CryptoKey, alg = 'ES384', kid = 'key-1') =>
    new SignJWT(payload).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(key);
  const hs256WithPublicKey = (payload: JWTPayload) => {
    const signingInput = `${b64({ alg: 'HS256', kid: 'key-1', typ: 'JWT' })}.${b64(payload)}`;
    return `${signingInput}.${createHmac('sha256', JSON.stringify(publicJwk)).update(signingInput).digest('base64url')}`;
  };
  const assertion = (jwt: string) => ({ client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt });

  const endpoints = {
    token: { path: '/oauth/token', fields: { grant_type: 'client_credentials', scope: 'system/Patient.rs' } },
    introspection: { path: '/oauth/introspect', fields: { token: 'some-token' } },
    revocation: { path: '/oauth/revoke', fields: { token: 'some-token' } },
  } as const;

  type Fields = Record<string, string>;
  type Case = { name: string; authorization?: string; fields?: Fields | (() => Promise<Fields> | Fields) };
  const viaHeader: Case[] = [
    { name: 'Basic: unknown client', authorization: basic('nobody', 'x') },
    { name: 'Basic: wrong secret', authorization: basic('backend', 'wrong') },
    { name: 'Basic: a client_secret_post client', authorization: basic('backend-post', BACKEND_SECRET) },
    { name: 'Basic: malformed credentials', authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` },
    { name: 'another scheme (Bearer)', authorization: 'Bearer abc' },
  ];
  const inBody: Case[] = [
    { name: 'post: unknown client', fields: { client_id: 'nobody', client_secret: 'x' } },
    { name: 'post: wrong secret', fields: { client_id: 'backend-post', client_secret: 'wrong' } },
    { name: 'post: a client_secret_basic client', fields: { client_id: 'backend', client_secret: BACKEND_SECRET } },
    { name: 'no client authentication at all', fields: {} },
    { name: 'private_key_jwt: aud = the issuer', fields: async () => assertion(await sign(claims({ aud: gw.url }))) },
    { name: 'private_key_jwt: expired', fields: async () => assertion(await sign(claims({ iat: now - 600, exp: now - 300 }))) },
    { name: 'private_key_jwt: exp too far ahead', fields: async () => assertion(await sign(claims({ exp: now + 3600 }))) },
    { name: 'private_key_jwt: unknown key (right kid)', fields: async () => assertion(await sign(claims(), stranger.privateKey as CryptoKey)) },
    { name: 'private_key_jwt: unknown kid', fields: async () => assertion(await sign(claims(), privateKey as CryptoKey, 'ES384', 'no-such-kid')) },
    { name: 'private_key_jwt: alg none', fields: () => assertion(`${b64({ alg: 'none', kid: 'key-1' })}.${b64(claims())}.`) },
    { name: 'private_key_jwt: HS256 with the public key', fields: () => assertion(hs256WithPublicKey(claims())) },
  ];

  const send = async (path: string, base: Record<string, string>, c: Case) => {
    const extra = typeof c.fields === 'function' ? await c.fields() : c.fields;
    const fields = { ...base, ...extra };
    const res = await fetch(`${gw.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': FORM, ...(c.authorization ? { authorization: c.authorization } : {}) },
      body: new URLSearchParams(fields),
    });
    return { status: res.status, challenge: res.headers.get('www-authenticate'), cacheControl: res.headers.get('cache-control'), body: JSON.parse((await res.text()) || '{}') as Record<string, string> };
  };

  for (const [endpoint, { path, fields }] of Object.entries(endpoints)) {
    t.test(`${endpoint} endpoint`, async (t) => {
      for (const c of viaHeader) {
        const res = await send(path, fields, c);
        t.same([res.status, res.body.error, res.challenge], [401, 'invalid_client', CHALLENGE], `${c.name}: 401 with a Basic challenge`);
        t.equal(res.cacheControl, 'no-store');
      }
      for (const c of inBody) {
        const res = await send(path, fields, c);
        t.same([res.status, res.body.error, res.challenge], [400, 'invalid_client', null], `${c.name}: 400, no challenge`);
        t.type(res.body.error_description, 'string');
      }
      // A replayed assertion: good once, refused the second time, like every other bad assertion.
      const replayed = assertion(await sign(claims()));
      t.equal((await send(path, fields, { name: 'first use', fields: replayed })).status, 200, 'a good assertion is accepted once');
      const again = await send(path, fields, { name: 'replayed jti', fields: replayed });
      t.same([again.status, again.body.error, again.challenge], [400, 'invalid_client', null], 'replayed jti: 400, no challenge');
    });
  }

  t.test('introspection by a public client (client_id only): 400 invalid_client', async (t) => {
    const res = await send(endpoints.introspection.path, endpoints.introspection.fields, { name: 'public', fields: { client_id: 'spa' } });
    t.same([res.status, res.body.error, res.challenge], [400, 'invalid_client', null]);
  });

  t.test('what openid-client makes of it', async (t) => {
    const discover = (clientId: string, auth: oidc.ClientAuth) =>
      oidc.discovery(new URL(gw.url), clientId, undefined, auth, { algorithm: 'oauth2', execute: [oidc.allowInsecureRequests] });
    const post = await discover('backend-post', oidc.ClientSecretPost('wrong'));
    const postError = await oidc.clientCredentialsGrant(post, { scope: 'system/Patient.rs' }).catch((err: unknown) => err);
    t.match(postError, { error: 'invalid_client', status: 400 }, 'client_secret_post: an OAuth error with the code');

    const viaBasic = await discover('backend', oidc.ClientSecretBasic('wrong'));
    const basicError = (await oidc.clientCredentialsGrant(viaBasic, { scope: 'system/Patient.rs' }).catch((err: unknown) => err)) as {
      status?: number;
      cause?: { scheme: string; parameters: Record<string, string> }[];
    };
    t.equal(basicError.status, 401, 'client_secret_basic: 401');
    t.match(basicError.cause, [{ scheme: 'basic', parameters: { realm: 'fhir-oauth-gateway' } }], 'with the Basic challenge parsed');
  });
});

t.test('the OAuth error renderer never sends a 401 without a challenge, whoever raised it', async (t) => {
  const app = new Koa();
  app.use(jsonErrors({ error() {} }));
  app.use(async (ctx) => {
    if (ctx.path === '/bare-401') throw new OAuthError('invalid_client', 'raised without invalidClient()', { status: 401 });
    if (ctx.path === '/default') throw new OAuthError('invalid_client', 'default status');
    throw new OAuthError('invalid_client', 'own challenge', { status: 401, headers: { 'WWW-Authenticate': 'Basic realm="other"' } });
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = async (path: string) => {
    const res = await fetch(base + path);
    await res.arrayBuffer();
    return [res.status, res.headers.get('www-authenticate')];
  };
  t.same(await get('/bare-401'), [401, CHALLENGE], 'a 401 raised without a challenge gets the Basic one');
  t.same(await get('/default'), [400, null], 'invalid_client defaults to 400 (no Authorization header to answer)');
  t.same(await get('/own'), [401, 'Basic realm="other"'], 'a challenge that is there is kept');
});
