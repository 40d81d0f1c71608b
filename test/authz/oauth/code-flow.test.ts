import t from 'tap';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import type { Stack } from '../../support/stack.js';
import {
  ALICE,
  authorizeInBrowser,
  authorizeUrl,
  discover,
  fhirGet,
  OTHER_PATIENT_ID,
  PATIENT_ID,
  rejectsWithOAuthError,
  SPA_REDIRECT,
  startOAuthStack,
  WEB_REDIRECT,
  WEB_SECRET,
} from '../../support/oauth-fixtures.js';
import { BACKEND_SECRET } from '../../support/stack.js';

/**
 * The authorization code flow end to end on Redis, with openid-client as the app: PKCE for a
 * confidential and a public client, refresh rotation, replay detection, introspection and
 * revocation, each followed by a FHIR call through the proxy.
 */
const STORE = (process.env.OAUTH_TEST_STORE ?? 'redis') as 'redis' | 'memory';

async function codeFlow(stack: Stack, config: oidc.Configuration, redirectUri: string, scope: string, extra: { cookie?: string } = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  // openid-client expects an ID token whenever a nonce is checked, so send one only with openid.
  const nonce = scope.split(' ').includes('openid') ? oidc.randomNonce() : undefined;
  const url = authorizeUrl(config, stack, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...(nonce ? { nonce } : {}),
  });
  const run = await authorizeInBrowser(stack, url, { user: ALICE, ...(extra.cookie ? { cookie: extra.cookie } : {}) });
  if (!run.location) throw new Error(`no redirect: ${run.lastPage?.status} ${run.lastPage?.html.slice(0, 500)}`);
  const callback = new URL(run.location);
  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    ...(nonce ? { expectedNonce: nonce } : {}),
  });
  return { tokens, callback, verifier, cookie: run.cookie };
}

t.test('authorization code flow', async (t) => {
  const stack = await startOAuthStack(t, { store: STORE });
  const web = await discover(stack, 'web', oidc.ClientSecretBasic(WEB_SECRET));
  const spa = await discover(stack, 'spa', oidc.None());
  const base = stack.gateway.url;

  t.test('discovery lists what is implemented', async (t) => {
    const meta = web.serverMetadata();
    t.same([...(meta.grant_types_supported ?? [])].sort(), ['authorization_code', 'client_credentials', 'implicit', 'password', 'refresh_token'], 'every grant type, no other (order carries no meaning)');
    t.same(meta.response_types_supported, ['code', 'token']);
    t.same(meta.code_challenge_methods_supported, ['S256']);
    t.same(meta.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']);
    t.equal(meta.authorization_endpoint, `${base}/oauth/authorize`);
    t.equal(meta.introspection_endpoint, `${base}/oauth/introspect`);
    t.equal(meta.revocation_endpoint, `${base}/oauth/revoke`);
    const smart = await (await fetch(`${base}/.well-known/smart-configuration`)).json();
    for (const capability of ['launch-standalone', 'client-public', 'client-confidential-asymmetric', 'context-standalone-patient', 'permission-offline', 'sso-openid-connect']) {
      t.ok(smart.capabilities.includes(capability), capability);
    }
    t.notOk(smart.capabilities.includes('authorize-post'), 'authorize is GET only');
  });

  t.test('confidential client: code + PKCE + openid, launch context, FHIR through the proxy', async (t) => {
    const scope = 'openid fhirUser launch/patient offline_access patient/*.rs';
    const { tokens, callback } = await codeFlow(stack, web, WEB_REDIRECT, scope);
    t.equal(callback.searchParams.get('iss'), base, 'RFC 9207 iss in the redirect');
    t.equal(tokens.token_type, 'bearer');
    t.equal(tokens.scope, scope);
    t.equal(tokens.patient, PATIENT_ID, 'SMART: the bare patient id');
    t.equal(tokens.need_patient_banner, true);
    t.ok(tokens.refresh_token && tokens.refresh_token.length >= 43, 'refresh token of at least 256 bits');
    const access = decodeJwt(tokens.access_token);
    t.equal(access.patient, PATIENT_ID);
    t.equal(access.fhirUser, `Patient/${PATIENT_ID}`);
    t.equal(access.sub, ALICE.username);
    t.equal(access.client_id, 'web');
    const idToken = tokens.claims()!;
    t.equal(idToken.aud, 'web');
    t.equal(idToken.sub, ALICE.username);
    t.equal(idToken.fhirUser, `${base}/Patient/${PATIENT_ID}`, 'fhirUser as an absolute URL');
    t.ok(idToken.nonce, 'nonce echoed (openid-client checked its value)');

    t.equal((await fhirGet(stack, tokens.access_token, `/Patient/${PATIENT_ID}`)).status, 200, 'own patient readable');
    t.equal((await fhirGet(stack, tokens.access_token, `/Patient/${OTHER_PATIENT_ID}`)).status, 403, 'another patient is not');
  });

  t.test('a code redeemed twice: invalid_grant, and the first tokens are revoked', async (t) => {
    const { tokens, callback, verifier } = await codeFlow(stack, web, WEB_REDIRECT, 'launch/patient offline_access patient/*.rs');
    t.equal((await fhirGet(stack, tokens.access_token, `/Patient/${PATIENT_ID}`)).status, 200);
    await rejectsWithOAuthError(t, oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: verifier, expectedState: callback.searchParams.get('state')! }), 'invalid_grant', 'invalid_grant');
    t.equal((await fhirGet(stack, tokens.access_token, `/Patient/${PATIENT_ID}`)).status, 401, 'access token from the code revoked');
    await rejectsWithOAuthError(t, oidc.refreshTokenGrant(web, tokens.refresh_token!), 'invalid_grant', 'refresh token from the code revoked');
  });

  t.test('public client: PKCE with client_id only; the session cookie skips the login page', async (t) => {
    const first = await codeFlow(stack, spa, SPA_REDIRECT, 'launch/patient patient/Patient.rs');
    t.equal(first.tokens.patient, PATIENT_ID);
    t.notOk(first.tokens.refresh_token, 'no refresh token without offline_access');
    t.equal((await fhirGet(stack, first.tokens.access_token, `/Patient/${PATIENT_ID}`)).status, 200);
    t.ok(first.cookie, 'a session cookie was set');

    const verifier = oidc.randomPKCECodeVerifier();
    const url = authorizeUrl(spa, stack, {
      redirect_uri: SPA_REDIRECT,
      scope: 'patient/Patient.rs',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const page = await fetch(url, { headers: { cookie: first.cookie! } });
    const html = await page.text();
    t.notMatch(html, /name="password"/, 'no login page while signed in');
    t.match(html, /name="decision" value="allow"/, 'straight to consent');
  });

  t.test('refresh: rotation, narrowing, no widening, reuse revokes the family', async (t) => {
    const { tokens } = await codeFlow(stack, web, WEB_REDIRECT, 'launch/patient offline_access patient/*.rs');
    const second = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    t.not(second.refresh_token, tokens.refresh_token, 'rotated');
    t.equal(second.scope, 'launch/patient offline_access patient/*.rs');
    t.equal(second.patient, PATIENT_ID, 'launch context kept');
    t.equal((await fhirGet(stack, second.access_token, `/Patient/${PATIENT_ID}`)).status, 200);

    const narrowed = await oidc.refreshTokenGrant(web, second.refresh_token!, { scope: 'launch/patient patient/Patient.r' });
    t.equal(narrowed.scope, 'launch/patient patient/Patient.r', 'narrower on request');
    await rejectsWithOAuthError(t, oidc.refreshTokenGrant(web, narrowed.refresh_token!, { scope: 'patient/*.cruds' }), 'invalid_scope', 'never wider');
    const third = await oidc.refreshTokenGrant(web, narrowed.refresh_token!);
    t.equal(third.scope, 'launch/patient offline_access patient/*.rs', 'the grant keeps its full scope after a narrowed refresh');

    await rejectsWithOAuthError(t, oidc.refreshTokenGrant(web, tokens.refresh_token!), 'invalid_grant', 'a rotated token is refused');
    for (const [name, issued] of Object.entries({ second, narrowed, third })) {
      t.equal((await fhirGet(stack, issued.access_token, `/Patient/${PATIENT_ID}`)).status, 401, `${name} access token revoked with the family`);
    }
    await rejectsWithOAuthError(t, oidc.refreshTokenGrant(web, third.refresh_token!), 'invalid_grant', 'the newest refresh token too');
  });

  t.test('a refresh token only works for its own client', async (t) => {
    const { tokens } = await codeFlow(stack, web, WEB_REDIRECT, 'launch/patient offline_access patient/*.rs');
    const spaRefresh = await fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: 'spa' }),
    });
    t.equal(spaRefresh.status, 400);
    t.equal((await spaRefresh.json()).error, 'invalid_grant');
    t.ok(await oidc.refreshTokenGrant(web, tokens.refresh_token!), 'and the attempt did not use it up');
  });

  t.test('introspection', async (t) => {
    const { tokens } = await codeFlow(stack, web, WEB_REDIRECT, 'openid fhirUser launch/patient offline_access patient/*.rs');
    const active = await oidc.tokenIntrospection(web, tokens.access_token);
    t.equal(active.active, true);
    t.match(active, {
      scope: 'openid fhirUser launch/patient offline_access patient/*.rs',
      client_id: 'web',
      sub: ALICE.username,
      iss: base,
      aud: base,
      token_type: 'Bearer',
      patient: PATIENT_ID,
      fhirUser: `Patient/${PATIENT_ID}`,
    });
    t.ok(active.exp && active.iat && active.jti);
    const refresh = await oidc.tokenIntrospection(web, tokens.refresh_token!);
    t.match(refresh, { active: true, client_id: 'web', sub: ALICE.username, token_type: 'refresh_token' });

    const backend = await discover(stack, 'backend', oidc.ClientSecretBasic(BACKEND_SECRET));
    t.same(await oidc.tokenIntrospection(backend, tokens.access_token), { active: false }, "another client's token: nothing");
    t.same(await oidc.tokenIntrospection(web, 'garbled.not.token'), { active: false }, 'garbled');
    t.same(await oidc.tokenIntrospection(web, 'x'.repeat(43)), { active: false }, 'unknown opaque token');

    const unauthenticated = await fetch(`${base}/oauth/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    t.equal(unauthenticated.status, 400, 'no client authentication (issue 12 item 2: 400 without the Authorization header)');
    t.equal((await unauthenticated.json()).error, 'invalid_client');
    await rejectsWithOAuthError(t, oidc.tokenIntrospection(spa, tokens.access_token), 'invalid_client', 'public clients may not introspect');
  });

  t.test('revocation', async (t) => {
    const { tokens } = await codeFlow(stack, web, WEB_REDIRECT, 'launch/patient offline_access patient/*.rs');
    const later = await oidc.refreshTokenGrant(web, tokens.refresh_token!);

    await oidc.tokenRevocation(web, tokens.access_token);
    t.equal((await fhirGet(stack, tokens.access_token, `/Patient/${PATIENT_ID}`)).status, 401, 'revoked access token refused by the proxy');
    t.same(await oidc.tokenIntrospection(web, tokens.access_token), { active: false });
    t.equal((await fhirGet(stack, later.access_token, `/Patient/${PATIENT_ID}`)).status, 200, 'only that token');

    const unknown = await fetch(`${base}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from(`web:${WEB_SECRET}`).toString('base64') },
      body: new URLSearchParams({ token: 'never-issued' }),
    });
    t.equal(unknown.status, 200, 'unknown token: 200');
    t.equal(unknown.headers.get('cache-control'), 'no-store');

    await oidc.tokenRevocation(spa, later.access_token);
    t.equal((await fhirGet(stack, later.access_token, `/Patient/${PATIENT_ID}`)).status, 200, "another client cannot revoke web's token");

    await oidc.tokenRevocation(web, later.refresh_token!);
    t.equal((await fhirGet(stack, later.access_token, `/Patient/${PATIENT_ID}`)).status, 401, 'revoking the refresh token revokes its family');
    await rejectsWithOAuthError(t, oidc.refreshTokenGrant(web, later.refresh_token!), 'invalid_grant', 'invalid_grant');
    t.same(await oidc.tokenIntrospection(web, later.refresh_token!), { active: false });
  });

  t.test('nothing secret in the logs', async (t) => {
    const joined = stack.logs.join('\n');
    t.notOk(joined.includes(WEB_SECRET), 'no client secret');
    t.notOk(joined.includes(ALICE.password), 'no password');
    t.notOk(/"(code|refresh_token|access_token)=/.test(joined) || /[?&]code=[A-Za-z0-9_-]{43}/.test(joined), 'no codes or tokens in logged URLs');
  });
});
