import t from 'tap';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { BACKEND_SECRET, startStack } from '../../support/stack.js';

const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');
const FORM = 'application/x-www-form-urlencoded';

t.test('client credentials token endpoint', async (t) => {
  const stack = await startStack(t, { store: 'memory' });
  const url = `${stack.gateway.url}/oauth/token`;
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'content-type': FORM, ...headers }, body });

  t.test('basic auth, omitted scope -> the registered scope, RFC 9068 claims', async (t) => {
    const res = await post('grant_type=client_credentials', { authorization: basic('backend', BACKEND_SECRET) });
    t.equal(res.status, 200);
    t.equal(res.headers.get('cache-control'), 'no-store');
    t.equal(res.headers.get('pragma'), 'no-cache');
    const body = await res.json();
    t.equal(body.scope, 'system/Patient.rs system/Observation.rs');
    t.equal(body.token_type, 'Bearer');
    t.equal(body.expires_in, 300);
    t.notOk(body.refresh_token, 'no refresh token for client credentials (RFC 6749 §4.4.3)');
    const header = decodeProtectedHeader(body.access_token);
    t.equal(header.typ, 'at+jwt');
    t.equal(header.alg, 'ES256');
    t.equal(header.kid, stack.gateway.runtime.get().keys.signing.kid);
    const claims = decodeJwt(body.access_token);
    t.equal(claims.iss, stack.gateway.url);
    t.equal(claims.aud, stack.gateway.url);
    t.equal(claims.sub, 'backend');
    t.equal(claims.client_id, 'backend');
    t.ok(claims.jti && claims.iat && claims.exp);
    t.equal(claims.exp! - claims.iat!, 300);
  });

  t.test('client_secret_post with a narrower scope', async (t) => {
    const res = await post(`grant_type=client_credentials&client_id=backend-post&client_secret=${BACKEND_SECRET}&scope=system%2FPatient.read`);
    t.equal(res.status, 200);
    t.equal((await res.json()).scope, 'system/Patient.read');
  });

  t.test('JWKS publishes the verification key only', async (t) => {
    const jwks = await (await fetch(`${stack.gateway.url}/.well-known/jwks.json`)).json();
    t.equal(jwks.keys.length, 1);
    t.notOk(jwks.keys[0].d, 'no private part');
    t.equal(jwks.keys[0].alg, 'ES256');
  });

  const bad: { name: string; body: string; headers?: Record<string, string>; status: number; error: string }[] = [
    { name: 'unknown client', body: 'grant_type=client_credentials', headers: { authorization: basic('nobody', 'x') }, status: 401, error: 'invalid_client' },
    { name: 'wrong secret', body: 'grant_type=client_credentials', headers: { authorization: basic('backend', 'wrong') }, status: 401, error: 'invalid_client' },
    // Issue 12 item 2: authenticated in the body -> 400 (only the Authorization header earns a 401 + challenge).
    { name: 'secret by the wrong method (post for a basic client)', body: `grant_type=client_credentials&client_id=backend&client_secret=${BACKEND_SECRET}`, status: 400, error: 'invalid_client' },
    {
      name: 'basic and post at once',
      body: `grant_type=client_credentials&client_id=backend&client_secret=${BACKEND_SECRET}`,
      headers: { authorization: basic('backend', BACKEND_SECRET) },
      status: 400,
      error: 'invalid_request',
    },
    { name: 'no client authentication', body: 'grant_type=client_credentials', status: 400, error: 'invalid_client' },
    { name: 'missing grant_type', body: 'scope=system%2FPatient.rs', headers: { authorization: basic('backend', BACKEND_SECRET) }, status: 400, error: 'invalid_request' },
    { name: 'unsupported grant_type', body: 'grant_type=urn%3Aexample%3Amagic', headers: { authorization: basic('backend', BACKEND_SECRET) }, status: 400, error: 'unsupported_grant_type' },
    { name: 'scope beyond the client', body: 'grant_type=client_credentials&scope=system%2FPatient.cruds', headers: { authorization: basic('backend', BACKEND_SECRET) }, status: 400, error: 'invalid_scope' },
    { name: 'scope for another type', body: 'grant_type=client_credentials&scope=system%2FEncounter.rs', headers: { authorization: basic('backend', BACKEND_SECRET) }, status: 400, error: 'invalid_scope' },
    { name: 'malformed scope', body: 'grant_type=client_credentials&scope=system%2FPatient.sr', headers: { authorization: basic('backend', BACKEND_SECRET) }, status: 400, error: 'invalid_scope' },
    { name: 'repeated parameter', body: 'grant_type=client_credentials&grant_type=client_credentials', headers: { authorization: basic('backend', BACKEND_SECRET) }, status: 400, error: 'invalid_request' },
    {
      name: 'JSON instead of a form body',
      body: JSON.stringify({ grant_type: 'client_credentials' }),
      headers: { authorization: basic('backend', BACKEND_SECRET), 'content-type': 'application/json' },
      status: 400,
      error: 'invalid_request',
    },
    {
      name: '1 MB body',
      body: 'a'.repeat(1024 * 1024),
      headers: { authorization: basic('backend', BACKEND_SECRET) },
      status: 413,
      error: 'invalid_request',
    },
  ];
  for (const c of bad) {
    t.test(c.name, async (t) => {
      const res = await post(c.body, c.headers);
      t.equal(res.status, c.status, `status ${c.status}`);
      t.equal(res.headers.get('cache-control'), 'no-store');
      t.match(res.headers.get('content-type') ?? '', /application\/json/);
      const body = await res.json();
      t.equal(body.error, c.error);
      t.type(body.error_description, 'string');
      t.ok(body.error_description.length > 5, 'describes the problem');
      if (c.status === 401) t.match(res.headers.get('www-authenticate') ?? '', /^Basic /, 'every 401 carries a Basic challenge');
      t.notOk(JSON.stringify(body).includes(BACKEND_SECRET), 'secret never echoed');
    });
  }

  t.test('GET on the token endpoint -> 405 JSON', async (t) => {
    const res = await fetch(url);
    t.equal(res.status, 405);
    t.equal((await res.json()).error, 'invalid_request');
  });
  t.test('unknown OAuth path -> 404 JSON', async (t) => {
    const res = await fetch(`${stack.gateway.url}/oauth/nothing`);
    t.equal(res.status, 404);
  });
  t.test('discovery documents list exactly what is implemented', async (t) => {
    const as = await (await fetch(`${stack.gateway.url}/.well-known/oauth-authorization-server`)).json();
    t.equal(as.issuer, stack.gateway.url);
    t.ok(as.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
    t.ok(as.token_endpoint_auth_methods_supported.includes('client_secret_post'));
    t.notOk(as.token_endpoint_auth_methods_supported.includes('client_secret_jwt'), 'nothing that is not implemented');
    t.ok(as.grant_types_supported.includes('client_credentials'));
    const smart = await (await fetch(`${stack.gateway.url}/.well-known/smart-configuration`)).json();
    t.equal(smart.token_endpoint, `${stack.gateway.url}/oauth/token`);
    t.ok(Array.isArray(smart.capabilities));
    t.ok(smart.capabilities.includes('client-confidential-symmetric'));
  });
});
