import t from 'tap';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { hashPassword } from '../../../authz/oauth/users/password-hash.js';
import { UserDirectory } from '../../../authz/oauth/users/users.js';
import { BACKEND_SECRET } from '../../support/stack.js';
import {
  ALICE,
  authorizeInBrowser,
  BOB,
  discover,
  FORM,
  fhirGet,
  PATIENT_ID,
  rejectsWithOAuthError,
  SPA_REDIRECT,
  startOAuthStack,
  WEB_SECRET,
} from '../../support/oauth-fixtures.js';

t.test('unknown user and wrong password cost the same scrypt work', async (t) => {
  const directory = new UserDirectory([{ username: 'u', password_hash: await hashPassword('right'), scope: 'user/*.rs' }]);
  const time = async (username: string) => {
    const started = process.hrtime.bigint();
    t.equal(await directory.authenticate(username, 'wrong'), undefined);
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  await time('u'); // warm up
  // Interleaved, so load from other processes hits both sides alike.
  let known = 0;
  let unknown = 0;
  for (let i = 0; i < 3; i++) {
    known += await time('u');
    unknown += await time('nobody');
  }
  // Skipping scrypt for unknown users would make them ~100x faster, far outside this band.
  t.ok(unknown > known / 3 && unknown < known * 3, `comparable (${known.toFixed(0)} ms vs ${unknown.toFixed(0)} ms)`);
  t.match(await directory.authenticate('u', 'right'), { username: 'u' });
});

t.test('password grant', async (t) => {
  const stack = await startOAuthStack(t, { store: 'memory' });
  const web = await discover(stack, 'web', oidc.ClientSecretBasic(WEB_SECRET));

  t.test('a patient signs in through the app: launch context, refresh token, FHIR', async (t) => {
    const tokens = await oidc.genericGrantRequest(web, 'password', {
      username: ALICE.username,
      password: ALICE.password,
      scope: 'openid fhirUser launch/patient offline_access patient/*.rs',
    });
    t.equal(tokens.patient, PATIENT_ID);
    t.ok(tokens.refresh_token, 'offline_access: a refresh token');
    t.ok(tokens.id_token, 'openid: an ID token');
    t.equal(decodeJwt(tokens.id_token!).fhirUser, `${stack.gateway.url}/Patient/${PATIENT_ID}`);
    t.equal((await fhirGet(stack, tokens.access_token, `/Patient/${PATIENT_ID}`)).status, 200);
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    t.equal((await fhirGet(stack, refreshed.access_token, `/Patient/${PATIENT_ID}`)).status, 200, 'and after a refresh');
  });

  t.test('a clinician gets user/ scopes and fhirUser, capped by the user', async (t) => {
    const tokens = await oidc.genericGrantRequest(web, 'password', { username: BOB.username, password: BOB.password, scope: 'fhirUser user/*.rs' });
    t.equal(tokens.scope, 'fhirUser user/*.rs');
    t.notOk(tokens.patient);
    t.notOk(tokens.refresh_token, 'no offline_access, no refresh token');
    t.equal(decodeJwt(tokens.access_token).fhirUser, 'Practitioner/doc-bob');
    t.equal((await fhirGet(stack, tokens.access_token, `/Patient/${PATIENT_ID}`)).status, 200);
  });

  t.test('wrong password and unknown user get the same answer', async (t) => {
    const attempt = async (username: string) => {
      const res = await fetch(`${stack.gateway.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': FORM, authorization: 'Basic ' + Buffer.from(`web:${WEB_SECRET}`).toString('base64') },
        body: new URLSearchParams({ grant_type: 'password', username, password: 'not-it', scope: 'patient/*.rs' }),
      });
      return { status: res.status, body: await res.json(), pragma: res.headers.get('pragma') };
    };
    const wrong = await attempt(BOB.username);
    const unknown = await attempt('nobody-here');
    t.same(wrong, unknown, 'identical status and body');
    t.same(wrong.body, { error: 'invalid_grant', error_description: 'Wrong username or password' });
    t.equal(wrong.pragma, 'no-cache');
  });

  t.test('repeated failures lock the username out', async (t) => {
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      await rejectsWithOAuthError(t, oidc.genericGrantRequest(web, 'password', { username: ALICE.username, password: `guess-${i}`, scope: 'patient/*.rs' }), 'invalid_grant', `failure ${i + 1}`);
    }
    t.ok(Date.now() - started >= 5 * 200, 'each failure answered more slowly');
    try {
      await oidc.genericGrantRequest(web, 'password', { username: ALICE.username, password: ALICE.password, scope: 'patient/*.rs' });
      t.fail('locked out');
    } catch (err) {
      t.match(err, { error: 'invalid_grant', error_description: /Too many failed/ }, 'even the right password is refused while locked');
    }
    const bob = await oidc.genericGrantRequest(web, 'password', { username: BOB.username, password: BOB.password, scope: 'user/*.rs' });
    t.ok(bob.access_token, 'other users are unaffected');
  });

  t.test('clients not allowed the password grant', async (t) => {
    const backend = await discover(stack, 'backend', oidc.ClientSecretBasic(BACKEND_SECRET));
    await rejectsWithOAuthError(t, oidc.genericGrantRequest(backend, 'password', { username: BOB.username, password: BOB.password }), 'unauthorized_client', 'backend client');
    const spa = await discover(stack, 'spa', oidc.None());
    await rejectsWithOAuthError(t, oidc.genericGrantRequest(spa, 'password', { username: BOB.username, password: BOB.password }), 'unauthorized_client', 'public client');
  });
});

t.test('implicit grant', async (t) => {
  const stack = await startOAuthStack(t, { store: 'memory' });
  const base = stack.gateway.url;
  const url = `${base}/oauth/authorize?${new URLSearchParams({
    client_id: 'spa',
    response_type: 'token',
    redirect_uri: SPA_REDIRECT,
    scope: 'launch/patient offline_access patient/Patient.rs',
    aud: base,
    state: 'implicit-state',
  })}`;
  const run = await authorizeInBrowser(stack, url);
  const location = new URL(run.location!);
  t.equal(location.search, '', 'nothing in the query');
  const fragment = new URLSearchParams(location.hash.slice(1));
  t.equal(fragment.get('token_type'), 'Bearer');
  t.equal(fragment.get('state'), 'implicit-state');
  t.equal(fragment.get('scope'), 'launch/patient offline_access patient/Patient.rs');
  t.equal(fragment.get('patient'), PATIENT_ID);
  t.ok(Number(fragment.get('expires_in')) > 0);
  t.equal(fragment.get('refresh_token'), null, 'never a refresh token, even with offline_access');
  const token = fragment.get('access_token')!;
  t.equal((await fhirGet(stack, token, `/Patient/${PATIENT_ID}`)).status, 200);

  const spa = await discover(stack, 'spa', oidc.None());
  await oidc.tokenRevocation(spa, token);
  t.equal((await fhirGet(stack, token, `/Patient/${PATIENT_ID}`)).status, 401, 'a public client revokes with its client_id');
});
