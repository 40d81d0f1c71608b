import t from 'tap';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import * as oidc from 'openid-client';
import { BACKEND_SECRET, startStack } from '../../support/stack.js';
import { FORM, fhirGet, rejectsWithOAuthError } from '../../support/oauth-fixtures.js';

/**
 * Client credentials with both kinds of client authentication, through openid-client, and every
 * way a private_key_jwt assertion must be refused.
 */
t.test('client credentials: client secret and private_key_jwt', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const stranger = await generateKeyPair('ES384');
  const publicJwk = { ...(await exportJWK(publicKey)), kid: 'backend-key-1', alg: 'ES384', use: 'sig' };
  const stack = await startStack(t, {
    store: 'memory',
    edit: (raw) => {
      raw.clients.push({
        client_id: 'jwt-backend',
        token_endpoint_auth_method: 'private_key_jwt',
        grant_types: ['client_credentials'],
        scope: 'system/Patient.rs',
        jwks: { keys: [publicJwk] },
      });
    },
  });
  const [patient] = await stack.upstream.seed([{ resourceType: 'Patient', id: 'pkj-1' }] as never);
  const base = stack.gateway.url;
  const tokenEndpoint = `${base}/oauth/token`;

  t.test('client_secret_basic through openid-client', async (t) => {
    const config = await oidc.discovery(new URL(base), 'backend', undefined, oidc.ClientSecretBasic(BACKEND_SECRET), {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    });
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'system/Patient.rs' });
    t.equal((await fhirGet(stack, tokens.access_token, `/Patient/${patient!.id}`)).status, 200);
  });

  t.test('private_key_jwt through openid-client (aud = the token endpoint)', async (t) => {
    const auth = oidc.PrivateKeyJwt({ key: privateKey as CryptoKey, kid: 'backend-key-1' }, {
      [oidc.modifyAssertion]: (_header: Record<string, unknown>, payload: Record<string, unknown>) => {
        payload.aud = tokenEndpoint;
      },
    });
    const config = await oidc.discovery(new URL(base), 'jwt-backend', undefined, auth, { algorithm: 'oauth2', execute: [oidc.allowInsecureRequests] });
    t.same(config.serverMetadata().token_endpoint_auth_signing_alg_values_supported, ['RS384', 'ES384']);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'system/Patient.rs' });
    t.equal(tokens.scope, 'system/Patient.rs');
    t.equal((await fhirGet(stack, tokens.access_token, `/Patient/${patient!.id}`)).status, 200);
    await rejectsWithOAuthError(t, oidc.clientCredentialsGrant(config, { scope: 'system/Observation.rs' }), 'invalid_scope', 'scope beyond the client');
  });

  t.test('bad assertions are refused with invalid_client', async (t) => {
    const now = Math.floor(Date.now() / 1000);
    const claims = (overrides: Record<string, unknown> = {}) => ({
      iss: 'jwt-backend',
      sub: 'jwt-backend',
      aud: tokenEndpoint,
      jti: randomUUID(),
      exp: now + 120,
      iat: now,
      ...overrides,
    });
    const sign = (payload: Record<string, unknown>, key: CryptoKey | Uint8Array = privateKey as CryptoKey, alg = 'ES384', kid = 'backend-key-1') =>
      new SignJWT(payload).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(key);
    const send = async (assertion: string) => {
      const res = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': FORM },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          scope: 'system/Patient.rs',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        }),
      });
      return { status: res.status, body: await res.json() };
    };
    const unsigned = (payload: Record<string, unknown>) =>
      `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'backend-key-1' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;

    const reused = claims();
    t.equal((await send(await sign(reused))).status, 200, 'a good assertion works once');
    const cases: Record<string, string> = {
      'reused jti': await sign(reused),
      'aud = issuer instead of the token endpoint': await sign(claims({ aud: base })),
      'aud of another server': await sign(claims({ aud: 'https://other.example.org/oauth/token' })),
      expired: await sign(claims({ exp: now - 120, iat: now - 300 })),
      'signed by an unknown key': await sign(claims(), stranger.privateKey as CryptoKey),
      'unknown kid': await sign(claims(), privateKey as CryptoKey, 'ES384', 'nope'),
      'alg none': unsigned(claims()),
      HS256: await sign(claims(), new TextEncoder().encode('x'.repeat(48)), 'HS256'),
      'iss of another client': await sign(claims({ iss: 'backend', sub: 'backend' })),
    };
    for (const [name, assertion] of Object.entries(cases)) {
      const { status, body } = await send(assertion);
      // Issue 12 item 2: no Authorization header was used -> 400 invalid_client.
      t.same([status, body.error], [400, 'invalid_client'], name);
    }
  });
});
