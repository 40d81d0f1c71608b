import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import {
  APP,
  appRedirect,
  authorizeRequest,
  createLaunch,
  EHR,
  fhirGet,
  NOT_EHR,
  OTHER_APP,
  PATIENT_USER,
  PRACTITIONER,
  redeem,
  startIdentityStack,
  type IdentityStack,
} from '../../support/identity-stack.js';
import { basic } from '../../support/ops-helpers.js';

/**
 * SMART EHR launch through the CLI-started gateway: an EHR client creates a launch context
 * (POST /oauth/launch), the app (openid-client) opens with its launch_url, sends the launch value
 * back with the `launch` scope, a practitioner signs in and allows, and the token response
 * carries the EHR's context; the FHIR calls are confined to the launch's patient. Every refusal
 * of the endpoint and of the authorize request is here.
 */

const LAUNCH_SCOPE = 'launch openid fhirUser patient/*.rs offline_access';

/** The EHR opens the app: the app reads `iss` and `launch` from its launch URL. */
async function launchedApp(stack: IdentityStack, fields: Record<string, unknown>) {
  const created = await createLaunch(stack.base, fields);
  if (created.status !== 201) throw new Error(`launch not created: ${created.status} ${JSON.stringify(created.body)}`);
  const opened = new URL(created.body.launch_url);
  return { created, iss: opened.searchParams.get('iss')!, launch: opened.searchParams.get('launch')! };
}

/** Signs in with the username form and allows; returns the redirect back to the app. */
async function signInAndAllow(stack: IdentityStack, url: URL, user: { username: string; password: string }) {
  const browser = stack.browser();
  const login = await browser.open(url);
  if (login.status !== 200) return { browser, page: login };
  const afterLogin = await browser.submit(login, '/oauth/authorize/login', { username: user.username, password: user.password });
  if (afterLogin.status !== 200) return { browser, page: afterLogin };
  return { browser, page: await browser.submit(afterLogin, '/oauth/authorize/consent', { decision: 'allow' }), consentPage: afterLogin };
}

t.test('EHR launch', async (t) => {
  const stack = await startIdentityStack(t, { edit: (raw) => (raw.tokens.launch_ttl = '2s') });
  const app = await stack.app();

  t.test('discovery lists the EHR launch capabilities', async (t) => {
    const smart = await (await fetch(`${stack.base}/.well-known/smart-configuration`)).json();
    for (const capability of ['launch-ehr', 'context-ehr-patient', 'context-ehr-encounter', 'context-banner', 'context-style', 'launch-standalone', 'context-standalone-patient']) {
      t.ok(smart.capabilities.includes(capability), capability);
    }
    t.ok(smart.scopes_supported.includes('launch'), 'the launch scope');
  });

  t.test('the EHR creates a launch; the app completes it; FHIR is confined to the launch patient', async (t) => {
    const fhirContext = [{ reference: 'Encounter/enc-bob', role: 'https://example.org/roles/current' }, 'Observation/obs-bob'];
    const { created, iss, launch } = await launchedApp(stack, {
      client_id: APP.clientId,
      patient: 'pat-bob',
      encounter: 'enc-bob',
      fhir_context: fhirContext,
      need_patient_banner: false,
      smart_style_url: 'https://ehr.example.org/style.json',
    });
    t.equal(created.headers.get('cache-control'), 'no-store');
    t.equal(created.body.expires_in, 2, 'tokens.launch_ttl');
    t.match(launch, /^[A-Za-z0-9_-]{43}$/, '256 random bits');
    const url = new URL(created.body.launch_url);
    t.equal(`${url.origin}${url.pathname}`, 'https://chart.example.org/launch', 'the app’s launch_uri');
    t.equal(url.searchParams.get('tenant'), 't1', 'its own query kept');
    t.equal(iss, stack.base, 'iss: the FHIR base URL');

    stack.takeReceived();
    const request = await authorizeRequest(app, stack.base, { scope: `${LAUNCH_SCOPE} launch/encounter`, launch });
    const { page, consentPage } = await signInAndAllow(stack, request.url, PRACTITIONER);
    t.match(consentPage?.html, /Patient record<\/dt><dd>pat-bob</, 'the consent page names the launch patient');
    const tokens = await redeem(app, page.location!, request);
    t.equal(tokens.patient, 'pat-bob');
    t.equal(tokens.encounter, 'enc-bob');
    t.same(tokens.fhirContext, [{ reference: 'Encounter/enc-bob', role: 'https://example.org/roles/current' }, { reference: 'Observation/obs-bob' }]);
    t.equal(tokens.need_patient_banner, false, 'the EHR shows its own banner');
    t.equal(tokens.smart_style_url, 'https://ehr.example.org/style.json');
    t.match(tokens.scope, /\blaunch\b/);
    t.equal(stack.takeReceived().length, 0, 'nothing reached the FHIR server while authorizing');

    t.equal((await fhirGet(stack.base, tokens.access_token, '/Patient/pat-bob')).status, 200, 'the launch patient');
    t.equal((await fhirGet(stack.base, tokens.access_token, '/Patient/pat-alice')).status, 403, 'another patient is refused');
    const observations = await fhirGet(stack.base, tokens.access_token, '/Observation');
    t.equal(observations.status, 200);
    t.same(observations.body.entry.map((e: any) => e.resource.id), ['obs-bob']);
    const forwarded = stack.takeReceived().map((r) => decodeURIComponent(r.url));
    t.equal(forwarded.length, 2, 'the refused read was not forwarded');
    t.match(forwarded[1], /\/Observation\?.*patient=Patient\/pat-bob|subject=Patient\/pat-bob/, 'the search was confined to the launch patient');

    const refreshed = await oidc.refreshTokenGrant(app, tokens.refresh_token!);
    t.equal(refreshed.patient, 'pat-bob', 'a refresh keeps the launch context');
    t.equal(refreshed.encounter, 'enc-bob');
    t.equal(refreshed.need_patient_banner, false);
  });

  t.test('a JSON body works too; need_patient_banner defaults to true', async (t) => {
    const created = await createLaunch(stack.base, { client_id: APP.clientId, patient: 'pat-carla' }, { json: true });
    t.equal(created.status, 201);
    const launch = new URL(created.body.launch_url).searchParams.get('launch')!;
    const request = await authorizeRequest(app, stack.base, { scope: LAUNCH_SCOPE, launch });
    const { page } = await signInAndAllow(stack, request.url, PRACTITIONER);
    const tokens = await redeem(app, page.location!, request);
    t.equal(tokens.patient, 'pat-carla');
    t.equal(tokens.need_patient_banner, true);
    t.equal(tokens.encounter, undefined);
  });

  t.test('refusals at POST /oauth/launch', async (t) => {
    const fields = { client_id: APP.clientId, patient: 'pat-bob' };
    const none = await createLaunch(stack.base, fields, { authorization: null });
    t.equal(none.status, 401, 'no client authentication');
    t.equal(none.body.error, 'invalid_client');
    t.match(none.headers.get('www-authenticate'), /^Basic realm=/, 'with a challenge');
    t.equal(none.headers.get('cache-control'), 'no-store');

    const wrong = await createLaunch(stack.base, fields, { authorization: basic(EHR.clientId, 'not-the-secret') });
    t.equal(wrong.status, 401, 'a wrong secret');
    t.equal(wrong.body.error, 'invalid_client');
    t.match(wrong.headers.get('www-authenticate'), /^Basic /);

    const posted = await createLaunch(stack.base, { ...fields, client_secret: EHR.secret }, { authorization: null });
    t.equal(posted.status, 400, 'client_secret_post is not accepted here');
    t.equal(posted.body.error, 'invalid_request');
    t.match(posted.body.error_description, /client_secret_post is not accepted.*client_id names the app/);

    const notEhr = await createLaunch(stack.base, fields, { authorization: basic(NOT_EHR.clientId, NOT_EHR.secret) });
    t.equal(notEhr.status, 400);
    t.equal(notEhr.body.error, 'unauthorized_client', 'a client without creates_launches');

    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['no app', { patient: 'pat-bob' }, /client_id is required/],
      ['an unknown app', { client_id: 'nope', patient: 'pat-bob' }, /No app with client_id "nope"/],
      ['an app without launch_uri', { client_id: EHR.clientId, patient: 'pat-bob' }, /has no launch_uri/],
      ['a reference, not a bare id', { client_id: APP.clientId, patient: 'Patient/pat-bob' }, /bare FHIR id.*"pat-bob"/],
      ['a malformed encounter', { client_id: APP.clientId, encounter: 'enc bob' }, /encounter must be a bare FHIR id/],
      ['fhir_context not references', { client_id: APP.clientId, fhir_context: ['not a reference'] }, /fhir_context must be a JSON array/],
      ['need_patient_banner not a boolean', { client_id: APP.clientId, need_patient_banner: 'maybe' }, /need_patient_banner must be true or false/],
      ['smart_style_url not http(s)', { client_id: APP.clientId, smart_style_url: 'javascript:alert(1)' }, /smart_style_url/],
    ];
    for (const [what, body, description] of cases) {
      const refused = await createLaunch(stack.base, body);
      t.equal(refused.status, 400, what);
      t.equal(refused.body.error, 'invalid_request', what);
      t.match(refused.body.error_description, description, what);
    }
    const badJson = await fetch(`${stack.base}/oauth/launch`, { method: 'POST', headers: { authorization: basic(EHR.clientId, EHR.secret), 'content-type': 'application/json' }, body: '[1,2' });
    t.equal(badJson.status, 400, 'JSON that does not parse');
    const text = await fetch(`${stack.base}/oauth/launch`, { method: 'POST', headers: { authorization: basic(EHR.clientId, EHR.secret), 'content-type': 'text/plain' }, body: 'x' });
    t.equal(text.status, 400, 'another media type');
    t.equal(stack.takeReceived().length, 0, 'nothing reached the FHIR server');
  });

  t.test('refusals at /oauth/authorize: unknown, reused, expired and other-app launch values', async (t) => {
    const landing = async (params: Record<string, string>) => {
      const request = await authorizeRequest(app, stack.base, params);
      return { request, page: await stack.browser().open(request.url) };
    };
    const refusedWith = (t: Test, page: { status: number; location?: string }, error: string, description: RegExp, what: string) => {
      t.equal(page.status, 302, what);
      const query = appRedirect(page.location);
      t.equal(query.get('error'), error, what);
      t.match(query.get('error_description'), description, what);
      t.equal(query.get('code'), null);
    };

    const unknown = await landing({ scope: LAUNCH_SCOPE, launch: 'x'.repeat(43) });
    refusedWith(t, unknown.page, 'invalid_request', /unknown, expired or already used/, 'a launch value never issued');

    const { launch } = await launchedApp(stack, { client_id: APP.clientId, patient: 'pat-bob' });
    const first = await landing({ scope: LAUNCH_SCOPE, launch });
    t.equal(first.page.status, 200, 'the first use shows the login page');
    const reused = await landing({ scope: LAUNCH_SCOPE, launch });
    refusedWith(t, reused.page, 'invalid_request', /unknown, expired or already used/, 'the same launch again');

    const forOther = await launchedApp(stack, { client_id: OTHER_APP.clientId, patient: 'pat-bob' });
    const stolen = await landing({ scope: LAUNCH_SCOPE, launch: forOther.launch });
    refusedWith(t, stolen.page, 'invalid_request', /created for another app/, 'a launch made for another app');
    const otherAppRequest = new URLSearchParams({
      response_type: 'code',
      client_id: OTHER_APP.clientId,
      redirect_uri: OTHER_APP.redirectUri,
      scope: 'launch patient/*.rs',
      launch: forOther.launch,
      aud: stack.base,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    const afterTheft = await stack.browser().open(`${stack.base}/oauth/authorize?${otherAppRequest}`);
    t.equal(afterTheft.status, 302, 'and it is used up for its own app too');
    t.equal(new URL(afterTheft.location!).searchParams.get('error'), 'invalid_request');

    const expiring = await launchedApp(stack, { client_id: APP.clientId, patient: 'pat-bob' });
    await sleep(3_000);
    const expired = await landing({ scope: LAUNCH_SCOPE, launch: expiring.launch });
    refusedWith(t, expired.page, 'invalid_request', /unknown, expired or already used/, 'a launch past tokens.launch_ttl');

    const noLaunch = await landing({ scope: LAUNCH_SCOPE });
    refusedWith(t, noLaunch.page, 'invalid_request', /launch scope needs the launch parameter/, 'the launch scope without a launch value');
    const noScope = await landing({ scope: 'openid patient/*.rs', launch: 'x'.repeat(43) });
    refusedWith(t, noScope.page, 'invalid_request', /launch parameter needs the launch scope/, 'a launch value without the launch scope');
  });

  t.test('a person with a fixed patient cannot be launched into another patient', async (t) => {
    const other = await launchedApp(stack, { client_id: APP.clientId, patient: 'pat-bob' });
    const request = await authorizeRequest(app, stack.base, { scope: LAUNCH_SCOPE, launch: other.launch });
    const browser = stack.browser();
    const login = await browser.open(request.url);
    const denied = await browser.submit(login, '/oauth/authorize/login', { username: PATIENT_USER.username, password: PATIENT_USER.password });
    t.equal(denied.status, 303);
    const query = appRedirect(denied.location);
    t.equal(query.get('error'), 'access_denied');
    t.equal(query.get('state'), request.state);

    const own = await launchedApp(stack, { client_id: APP.clientId, patient: PATIENT_USER.patient });
    const ownRequest = await authorizeRequest(app, stack.base, { scope: LAUNCH_SCOPE, launch: own.launch });
    const { page } = await signInAndAllow(stack, ownRequest.url, PATIENT_USER);
    t.equal((await redeem(app, page.location!, ownRequest)).patient, PATIENT_USER.patient, 'launched into their own record, they may');
  });
});
