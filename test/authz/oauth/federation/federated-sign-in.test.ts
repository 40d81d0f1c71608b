import t, { type Test } from 'tap';
import { randomToken } from '../../../../authz/crypto/random-token.js';
import { personKey } from '../../../../authz/oauth/federation/federated-person.js';
import type { FederationFailure } from '../../../../authz/oauth/federation/federation-failure.js';
import { providerLogoutUrl } from '../../../../authz/oauth/federation/provider-logout.js';
import type { FederatedSignInSuccess } from '../../../../authz/oauth/federation/sign-in-callback.js';
import { startFederatedSignIn } from '../../../../authz/oauth/federation/sign-in-redirect.js';
import { RedisStore } from '../../../../gateway/store/redis-store.js';
import type { Store } from '../../../../authz/store.js';
import { DR_KIM, GATEWAY_PUBLIC_URL, startFederation } from '../../../support/federation-fixtures.js';
import { CookieJar } from '../../../support/oidc-provider.js';
import { startRedisServerFor } from '../../../support/redis-server.js';

/**
 * A federated sign-in against a real OpenID provider (oidc-provider, in process): real
 * discovery, the provider's login form posted over HTTP, a real code exchange. Every refusal the
 * issue lists for the callback is here; ID token verification has its own file.
 */

function success(t: Test, result: FederatedSignInSuccess | FederationFailure): FederatedSignInSuccess {
  if (!result.ok) {
    t.fail(`expected a signed-in person, got ${result.kind}: ${result.description}`);
    throw new Error('sign-in failed');
  }
  return result;
}

function failure(result: FederatedSignInSuccess | FederationFailure): FederationFailure | undefined {
  return result.ok ? undefined : result;
}

const happyPath = async (t: Test, makeStore: () => Promise<Store | undefined>) => {
  const store = await makeStore();
  const fed = await startFederation(t, {
    ...(store ? { store } : {}),
    entry: {
      resource_scope: 'user/Patient.rs',
      resource_scope_by_claim: { claim: 'groups', values: { clinicians: 'user/*.rs', pharmacists: 'user/MedicationRequest.cruds' } },
    },
  });
  const { redirectTo, browser, interactionId } = await fed.start();

  // What the browser is sent to: the provider's authorization endpoint with our parameters only.
  t.equal(`${redirectTo.origin}${redirectTo.pathname}`, `${fed.idp.issuer}/auth`);
  const params = Object.fromEntries(redirectTo.searchParams);
  t.same(Object.keys(params).sort(), ['client_id', 'code_challenge', 'code_challenge_method', 'nonce', 'redirect_uri', 'response_type', 'scope', 'state']);
  t.match(params, {
    client_id: 'fhir-gateway',
    response_type: 'code',
    redirect_uri: `${GATEWAY_PUBLIC_URL}/oauth/callback/hospital-sso`,
    scope: 'openid profile email',
    code_challenge_method: 'S256',
    state: /^[A-Za-z0-9_-]{43}$/,
    nonce: /^[A-Za-z0-9_-]{43}$/,
    code_challenge: /^[A-Za-z0-9_-]{43}$/,
  });

  const callback = await fed.idp.signIn(redirectTo, 'dr-kim');
  t.equal(callback.searchParams.get('state'), params['state'], 'the provider sends the state back');
  const signedIn = success(t, await fed.complete(callback, browser));
  t.equal(signedIn.interactionId, interactionId, 'the interaction to resume');
  t.match(signedIn.idToken, /^ey[\w-]+\.[\w-]+\.[\w-]+$/);
  const { authTime, ...person } = signedIn.person;
  t.same(person, {
    key: personKey(fed.idp.issuer, 'dr-kim'),
    providerId: 'hospital-sso',
    issuer: fed.idp.issuer,
    subject: 'dr-kim',
    fhirUser: 'Practitioner/E-1001',
    resourceScope: 'user/Patient.rs user/*.rs',
    displayName: 'Dr Kim Lee',
  });
  t.ok(Math.abs(authTime - Date.now() / 1000) < 30, 'auth_time from the provider');

  t.same(failure(await fed.complete(callback, browser))?.kind, 'unknown-state', 'the same callback again is refused');
  t.equal(fed.idp.requests.filter((r) => r.path === '/token').length, 1, 'and its code was not sent to the provider again');
};

t.test('sign-in end to end, records in the memory store', (t) => happyPath(t, async () => undefined));

t.test('sign-in end to end, records in Redis', async (t) => {
  const redis = await startRedisServerFor(t);
  await happyPath(t, async () => {
    const store = new RedisStore({ url: redis.url, key_prefix: 'federation:' });
    await store.connect();
    t.teardown(() => store.close());
    return store;
  });
});

t.test('people are keyed on issuer + sub, never on e-mail; discovery is done once', async (t) => {
  const fed = await startFederation(t);
  const first = success(t, await fed.complete(...(await signInTuple(fed, 'dr-kim'))));

  fed.idp.setAccount('dr-kim', { ...DR_KIM, email: 'new.address@hospital.example', name: 'Dr Kim Lee-Park' });
  fed.idp.setAccount('impostor', { ...DR_KIM, employee_id: 'E-666' });
  const again = success(t, await fed.complete(...(await signInTuple(fed, 'dr-kim'))));
  const impostor = success(t, await fed.complete(...(await signInTuple(fed, 'impostor'))));

  t.equal(again.person.key, first.person.key, 'a changed e-mail is the same person');
  t.equal(again.person.displayName, 'Dr Kim Lee-Park');
  t.not(impostor.person.key, first.person.key, 'the same e-mail on another account is another person');
  t.equal(fed.idp.requests.filter((r) => r.path === '/.well-known/openid-configuration').length, 1, 'discovery cached per provider');
  t.equal(fed.idp.requests.filter((r) => r.path === '/jwks').length, 1, 'and the JWKS too');
});

async function signInTuple(fed: Awaited<ReturnType<typeof startFederation>>, account: string): Promise<[URL, string]> {
  const { callback, browser } = await fed.signInAtProvider(account);
  return [callback, browser];
}

t.test('a tampered or replayed callback ends on the error page with nobody signed in', async (t) => {
  const fed = await startFederation(t);

  const { callback, browser } = await fed.signInAtProvider('dr-kim');
  const wrongState = new URL(callback);
  wrongState.searchParams.set('state', randomToken(32));
  t.match(await fed.complete(wrongState, browser), { ok: false, kind: 'unknown-state', outcome: 'error-page' }, 'a state never issued');
  const noState = new URL(callback);
  noState.searchParams.delete('state');
  t.match(await fed.complete(noState, browser), { ok: false, kind: 'unknown-state', outcome: 'error-page' }, 'no state');
  t.equal((await fed.complete(callback, browser)).ok, true, 'forged states did not touch the genuine sign-in');

  const second = await fed.signInAtProvider('dr-kim');
  const otherBrowser = await fed.complete(second.callback, randomToken(32));
  t.match(otherBrowser, { ok: false, kind: 'other-browser', outcome: 'error-page' }, 'login CSRF: finished in a browser that did not start it');
  t.notOk('interactionId' in otherBrowser, 'nothing about the interaction is revealed or resumed');
  t.match(await fed.complete(second.callback, second.browser), { ok: false, kind: 'unknown-state' }, 'and the sign-in is used up');

  const third = await fed.signInAtProvider('dr-kim');
  t.match(await fed.complete(third.callback, undefined), { ok: false, kind: 'other-browser' }, 'no binding cookie at all');

  const fourth = await fed.signInAtProvider('dr-kim');
  const forgedCode = new URL(fourth.callback);
  forgedCode.searchParams.set('code', randomToken(32));
  t.match(await fed.complete(forgedCode, fourth.browser), { ok: false, kind: 'code-rejected', outcome: 'error-page' }, 'a code the provider never issued');

  const fifth = await fed.signInAtProvider('dr-kim');
  const mixUp = new URL(fifth.callback);
  mixUp.searchParams.set('iss', 'https://evil.example.org');
  t.match(await fed.complete(mixUp, fifth.browser), { ok: false, kind: 'invalid-response', outcome: 'error-page' }, 'an iss parameter naming another issuer (RFC 9207)');
});

t.test('a callback on another provider’s path is refused (mix-up)', async (t) => {
  const fed = await startFederation(t, {
    moreProviders: [{ id: 'other-sso', name: 'Other', issuer: 'https://other-sso.example.org', client_id: 'x', client_secret: 'y', fhir_user: '{fhirUser}', resource_scope: 'user/*.rs' }],
  });
  const { callback, browser } = await fed.signInAtProvider('dr-kim');
  t.match(await fed.complete(callback, browser, 'other-sso'), { ok: false, kind: 'provider-mismatch', outcome: 'error-page' });
  t.match(await fed.complete(callback, browser, 'no-such-provider'), { ok: false, kind: 'unknown-provider', outcome: 'error-page' });
  t.equal(fed.idp.requests.filter((r) => r.path === '/token').length, 0, 'no code was exchanged');
});

t.test('cancelling at the provider and unmapped people go back to the app as access_denied', async (t) => {
  const fed = await startFederation(t);

  const started = await fed.start();
  const cancelled = await fed.complete(await fed.idp.cancel(started.redirectTo), started.browser);
  t.same(cancelled, {
    ok: false,
    kind: 'cancelled',
    outcome: 'access-denied',
    description: 'the sign-in was cancelled at the identity provider',
    providerId: 'hospital-sso',
    interactionId: started.interactionId,
  });

  fed.idp.setAccount('visitor', { name: 'No Employee Id' });
  const { callback, browser, interactionId } = await fed.signInAtProvider('visitor');
  const unmapped = await fed.complete(callback, browser);
  t.same(unmapped, {
    ok: false,
    kind: 'unmapped',
    outcome: 'access-denied',
    description: 'the ID token has no usable employee_id claim, which identity provider hospital-sso needs for fhir_user',
    providerId: 'hospital-sso',
    interactionId,
  });

  const other = await fed.start();
  const errorCallback = new URL(fed.idp.redirectUri);
  errorCallback.search = new URLSearchParams({ error: 'temporarily_unavailable', error_description: '<script>alert(1)</script>', state: other.redirectTo.searchParams.get('state')! }).toString();
  const providerError = await fed.complete(errorCallback, other.browser);
  t.match(providerError, { ok: false, kind: 'provider-error', outcome: 'error-page', description: 'the identity provider answered temporarily_unavailable' });
  t.notMatch(JSON.stringify(providerError), /<script|alert/, 'the provider’s error_description is not carried');
});

t.test('patient template: staff and patients on one provider', async (t) => {
  const fed = await startFederation(t, { entry: { fhir_user: '{fhirUser}', patient: '{patient_id}', resource_scope: 'patient/*.rs' } });
  fed.idp.setAccount('dr-kim', { ...DR_KIM, fhirUser: 'Practitioner/E-1001' });
  const patient = success(t, await fed.complete(...(await signInTuple(fed, 'pat-jones'))));
  t.equal(patient.person.patient, 'pat-jones', 'a patient gets their fixed patient');
  t.equal(patient.person.fhirUser, 'Patient/pat-jones');
  const staff = success(t, await fed.complete(...(await signInTuple(fed, 'dr-kim'))));
  t.equal(staff.person.patient, undefined, 'no patient_id claim: no fixed patient');
  fed.idp.setAccount('odd', { fhirUser: 'Patient/x', patient_id: 'x/../y' });
  t.match(await fed.complete(...(await signInTuple(fed, 'odd'))), { ok: false, kind: 'unmapped', outcome: 'access-denied' }, 'a malformed patient claim is refused, not ignored');
});

t.test('starting a sign-in with an unknown provider', async (t) => {
  const fed = await startFederation(t);
  t.match(await startFederatedSignIn(fed.relyingParties, fed.signIns, { providerId: 'nope', interactionId: 'i', browserBinding: randomToken(32) }), {
    ok: false,
    kind: 'unknown-provider',
    outcome: 'error-page',
  });
});

t.test('logout at the provider: end_session_endpoint with id_token_hint and a registered post_logout_redirect_uri', async (t) => {
  const fed = await startFederation(t);
  const { idToken } = success(t, await fed.complete(...(await signInTuple(fed, 'dr-kim'))));
  const url = await providerLogoutUrl(fed.relyingParties, { providerId: 'hospital-sso', idTokenHint: idToken, postLogoutRedirectUri: fed.idp.postLogoutRedirectUris[0]!, state: 'bye' });
  t.ok(url);
  t.equal(`${url!.origin}${url!.pathname}`, `${fed.idp.issuer}/session/end`);
  t.same(Object.fromEntries(url!.searchParams), { client_id: 'fhir-gateway', id_token_hint: idToken, post_logout_redirect_uri: `${GATEWAY_PUBLIC_URL}/oauth/logged-out`, state: 'bye' });
  const page = await fetch(url!, { headers: { cookie: new CookieJar().header() } });
  t.equal(page.status, 200, 'the provider accepts it and asks to confirm');
  t.match(await page.text(), /logout/i);

  const refused = await fetch(
    (await providerLogoutUrl(fed.relyingParties, { providerId: 'hospital-sso', idTokenHint: idToken, postLogoutRedirectUri: 'https://evil.example/' }))!,
  );
  t.equal(refused.status, 400, 'a post_logout_redirect_uri that is not registered is refused by the provider');
  t.equal(await providerLogoutUrl(fed.relyingParties, { providerId: 'nope' }), undefined);

  const withoutLogout = await startFederation(t, { idp: { endSession: false } });
  t.equal(await providerLogoutUrl(withoutLogout.relyingParties, { providerId: 'hospital-sso', idTokenHint: idToken }), undefined, 'a provider without end_session_endpoint: the gateway logout is all there is');
  await withoutLogout.idp.stop();
  const down = await startFederation(t);
  await down.idp.stop();
  t.equal(await providerLogoutUrl(down.relyingParties, { providerId: 'hospital-sso' }), undefined, 'a provider that is down does not block logout');
});

t.test('prompt=login is passed on when the app asked for a fresh login', async (t) => {
  const fed = await startFederation(t);
  const started = await startFederatedSignIn(fed.relyingParties, fed.signIns, { providerId: 'hospital-sso', interactionId: 'i', browserBinding: randomToken(32), forceLogin: true });
  t.equal(started.ok && started.redirectTo.searchParams.get('prompt'), 'login');
  const plain = await fed.start();
  t.equal(plain.redirectTo.searchParams.get('prompt'), null);
});
