import t from 'tap';
import * as oidc from 'openid-client';
import { hashPassword } from '../../../authz/oauth/users/password-hash.js';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { freePort } from '../../support/free-port.js';
import { startGatewayProcess } from '../../support/gateway-process.js';
import { ALICE, authorizeInBrowser, FORM, PATIENT_ID } from '../../support/oauth-fixtures.js';
import { baseRawConfig } from '../../support/stack.js';

/**
 * Issue 12, item 7: a public app refreshes with `grant_type=refresh_token&refresh_token=...` and
 * nothing else, as the SMART JavaScript client (fhirclient 2.x) does; the CLI-started gateway
 * takes the client from the token's record. Confidential clients still authenticate, and a
 * client_id that is sent must match.
 */

const SPA_REDIRECT = 'https://spa.example.org/cb';
const WEB_REDIRECT = 'https://web.example.org/cb';
const WEB_SECRET = 'web-secret-0123456789';

t.test('refresh without client authentication', async (t) => {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: PATIENT_ID, name: [{ family: 'Alice' }] }] as never);
  const raw = baseRawConfig(await freePort(), upstream.baseUrl);
  raw.audit = { enabled: false };
  raw.users = [{ username: ALICE.username, password_hash: await hashPassword(ALICE.password), patient: `Patient/${PATIENT_ID}`, scope: 'patient/*.rs' }];
  const userFlow = { grant_types: ['authorization_code', 'refresh_token'], scope: 'launch/patient offline_access patient/*.rs' };
  raw.clients.push(
    { client_id: 'spa', token_endpoint_auth_method: 'none', redirect_uris: [SPA_REDIRECT], ...userFlow },
    { client_id: 'other-spa', token_endpoint_auth_method: 'none', redirect_uris: [SPA_REDIRECT], ...userFlow },
    { client_id: 'web', client_secret: WEB_SECRET, token_endpoint_auth_method: 'client_secret_basic', redirect_uris: [WEB_REDIRECT], ...userFlow },
  );
  const gw = await startGatewayProcess(t, { config: raw });
  const gateway = { gateway: { url: gw.url } };

  /** Code flow with PKCE through the login and consent pages; returns the token response. */
  const tokensFor = async (clientId: string, redirectUri: string, headers: Record<string, string> = {}) => {
    const verifier = oidc.randomPKCECodeVerifier();
    const params = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      scope: 'launch/patient offline_access patient/*.rs',
      state: 'st',
      aud: gw.url,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const run = await authorizeInBrowser(gateway, `${gw.url}/oauth/authorize?${params}`);
    const code = new URL(run.location!).searchParams.get('code')!;
    const fields = { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, ...(headers.authorization ? {} : { client_id: clientId }) };
    const res = await fetch(`${gw.url}/oauth/token`, { method: 'POST', headers: { 'content-type': FORM, ...headers }, body: new URLSearchParams(fields) });
    const body = (await res.json()) as { access_token: string; refresh_token: string };
    t.equal(res.status, 200, `${clientId}: code redeemed`);
    return body;
  };
  /** Exactly what fhirclient 2.x sends for a public client's refresh. */
  const refresh = async (refreshToken: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) => {
    const res = await fetch(`${gw.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': FORM, ...headers },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }),
    });
    return { status: res.status, cacheControl: res.headers.get('cache-control'), challenge: res.headers.get('www-authenticate'), body: (await res.json()) as Record<string, string> };
  };
  const read = async (accessToken: string) => {
    const res = await fetch(`${gw.url}/Patient/${PATIENT_ID}`, { headers: { authorization: `Bearer ${accessToken}` } });
    await res.arrayBuffer();
    return res.status;
  };

  t.test('a public client: refreshed from the token record, rotated, reuse still detected', async (t) => {
    const first = await tokensFor('spa', SPA_REDIRECT);
    const next = await refresh(first.refresh_token);
    t.equal(next.status, 200, 'refreshed without client_id');
    t.equal(next.cacheControl, 'no-store');
    t.type(next.body.access_token, 'string');
    t.type(next.body.refresh_token, 'string');
    t.not(next.body.refresh_token, first.refresh_token, 'rotated');
    t.equal(await read(next.body.access_token!), 200, 'the new access token works');

    const withId = await refresh(next.body.refresh_token!, { client_id: 'spa' });
    t.equal(withId.status, 200, 'sending the matching client_id still works');

    const reused = await refresh(first.refresh_token);
    t.same([reused.status, reused.body.error], [400, 'invalid_grant'], 'the rotated token, replayed without client_id: invalid_grant');
    t.equal((await refresh(withId.body.refresh_token!)).body.error, 'invalid_grant', 'and the whole family is revoked (RFC 9700 reuse detection)');
    t.equal(await read(withId.body.access_token!), 401, 'including its access tokens');
  });

  t.test('a client_id that is sent must match the record', async (t) => {
    const tokens = await tokensFor('spa', SPA_REDIRECT);
    const other = await refresh(tokens.refresh_token, { client_id: 'other-spa' });
    t.same([other.status, other.body.error], [400, 'invalid_grant'], "another public client's client_id: invalid_grant");
    t.equal((await refresh(tokens.refresh_token)).status, 200, 'the mismatch did not burn the token');
  });

  t.test('a confidential client must still authenticate', async (t) => {
    const basic = { authorization: `Basic ${Buffer.from(`web:${WEB_SECRET}`).toString('base64')}` };
    const tokens = await tokensFor('web', WEB_REDIRECT, basic);
    const bare = await refresh(tokens.refresh_token);
    t.same([bare.status, bare.body.error, bare.challenge], [400, 'invalid_client', null], 'no client authentication: 400 invalid_client');
    const idOnly = await refresh(tokens.refresh_token, { client_id: 'web' });
    t.same([idOnly.status, idOnly.body.error], [400, 'invalid_client'], 'client_id without the secret: invalid_client');
    const authenticated = await refresh(tokens.refresh_token, {}, basic);
    t.equal(authenticated.status, 200, 'the refused attempts did not burn the token; with authentication it refreshes');
  });

  t.test('an unknown refresh token without client_id: invalid_grant', async (t) => {
    const res = await refresh('x'.repeat(43));
    t.same([res.status, res.body.error], [400, 'invalid_grant']);
  });
});
