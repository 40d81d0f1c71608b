import t, { type Test } from 'tap';
import { decodeJwt } from 'jose';
import { personKey } from '../../../authz/oauth/federation/federated-person.js';
import { DR_KIM } from '../../support/federation-fixtures.js';
import {
  appRedirect,
  authorizeRequest,
  fhirGet,
  redeem,
  startIdentityStack,
  textOf,
  type IdentityStack,
  type Page,
  type PageBrowser,
} from '../../support/identity-stack.js';

/**
 * Sign-in through the hospital's OpenID provider (oidc-provider in this process, its login form
 * posted over HTTP) at the CLI-started gateway: the login page's provider button, the provider's
 * login, the callback, consent, the code exchanged by openid-client, and a FHIR call with the
 * token. Then every way the callback can fail: the app hears access_denied when the person
 * cancelled or cannot be mapped; everything else ends on an error page with nobody signed in.
 */

const ENTRY = {
  resource_scope: 'user/Patient.rs',
  resource_scope_by_claim: { claim: 'groups', values: { clinicians: 'user/*.rs patient/*.rs' } },
};
const SCOPE = 'openid fhirUser offline_access user/*.rs';

interface Started {
  browser: PageBrowser;
  request: Awaited<ReturnType<typeof authorizeRequest>>;
  loginPage: Page;
  /** The provider's authorization URL the button sent the browser to. */
  toProvider: string;
}

/** Opens the app's authorize URL and presses the provider's button. */
async function pressProviderButton(stack: IdentityStack, params: Record<string, string> = {}, browser = stack.browser()): Promise<Started> {
  const request = await authorizeRequest(await stack.app(), stack.base, { scope: SCOPE, ...params });
  const loginPage = await browser.open(request.url);
  if (loginPage.status !== 200) throw new Error(`no login page: ${loginPage.status} ${loginPage.location}`);
  const pressed = await browser.submit(loginPage, '/oauth/authorize/federated', { provider: 'hospital-sso' });
  if (pressed.status !== 303) throw new Error(`the button did not redirect: ${pressed.status} ${textOf(pressed.html)}`);
  return { browser, request, loginPage, toProvider: pressed.location! };
}

/** Nobody is signed in in this browser: the account page says so. */
async function signedOut(t: Test, stack: IdentityStack, browser: PageBrowser, what: string): Promise<void> {
  const account = await browser.open(`${stack.base}/oauth/account`);
  t.equal(account.status, 403, `${what}: nobody is signed in`);
}

t.test('federated sign-in at the CLI-started gateway', async (t) => {
  const stack = await startIdentityStack(t, { idp: { accounts: { 'dr-kim': DR_KIM } }, idpEntry: ENTRY, users: false });
  const idp = stack.idp!;
  /** Credentials seen during the tests: none may appear in the gateway's output. */
  const secrets: string[] = [];

  t.test('provider down when the button is pressed: an error page, nobody signed in', async (t) => {
    await idp.stop();
    const browser = stack.browser();
    const request = await authorizeRequest(await stack.app(), stack.base, { scope: SCOPE });
    const login = await browser.open(request.url);
    const pressed = await browser.submit(login, '/oauth/authorize/federated', { provider: 'hospital-sso' });
    t.equal(pressed.status, 502);
    t.match(textOf(pressed.html), /Hospital SSO cannot be reached/);
    t.match(pressed.headers.get('content-security-policy'), /default-src 'none'/);
    await signedOut(t, stack, browser, 'provider down');
    await idp.restart();
    const retried = await browser.submit(login, '/oauth/authorize/federated', { provider: 'hospital-sso' });
    t.equal(retried.status, 303, 'the same page works once the provider is back');
  });

  t.test('sign in, consent, code, token, FHIR', async (t) => {
    const { browser, request, loginPage, toProvider } = await pressProviderButton(stack);
    t.equal(loginPage.forms.length, 1, 'no users configured: only the provider buttons');
    t.same(loginPage.forms[0]!.buttons, [{ name: 'provider', value: 'hospital-sso', label: 'Sign in with Hospital SSO' }]);
    t.match(loginPage.headers.get('content-security-policy'), new RegExp(`form-action 'self' https://chart.example.org ${idp.issuer}`), 'the button may redirect to the provider');
    t.ok(browser.cookie('fhirgw_federation'), 'the browser-binding cookie of the sign-in');
    const params = new URL(toProvider).searchParams;
    t.equal(params.get('redirect_uri'), `${stack.base}/oauth/callback/hospital-sso`);
    t.equal(params.get('code_challenge_method'), 'S256');

    stack.takeReceived();
    let providerIdToken = '';
    idp.replaceNextIdToken(({ original }) => (providerIdToken = original));
    const callback = await idp.signIn(toProvider, 'dr-kim');
    const consent = await browser.open(callback);
    t.equal(consent.status, 200, 'the callback shows the consent page');
    t.match(textOf(consent.html), /Signed in as Dr Kim Lee/);
    t.match(textOf(consent.html), /Profile Practitioner\/E-1001/);
    t.ok(browser.cookie('fhirgw_session'), 'the gateway session started');

    const allowed = await browser.submit(consent, '/oauth/authorize/consent', { decision: 'allow' });
    const app = await stack.app();
    const tokens = await redeem(app, allowed.location!, request);
    const claims = decodeJwt(tokens.access_token);
    t.equal(claims.sub, personKey(idp.issuer, 'dr-kim'), 'sub: the person key (issuer + sub), never the e-mail');
    t.equal(claims['fhirUser'], 'Practitioner/E-1001', 'fhirUser from the fhir_user template');
    t.equal(tokens.scope, SCOPE, 'user/*.rs from the groups claim');
    t.equal(decodeJwt(tokens.id_token!)['fhirUser'], `${stack.base}/Practitioner/E-1001`);
    t.equal(stack.takeReceived().length, 0, 'nothing reached the FHIR server while signing in');
    const patients = await fhirGet(stack.base, tokens.access_token, '/Patient');
    t.equal(patients.status, 200);
    t.equal(patients.body.entry.length, 3);

    t.test('the replayed callback ends on the error page', async (t) => {
      const replay = await browser.open(callback);
      t.equal(replay.status, 400);
      t.match(textOf(replay.html), /unknown, expired or was already completed/);
    });

    t.test('prompt=login signs in again at the provider', async (t) => {
      const again = await pressProviderButton(stack, { prompt: 'login' }, browser);
      t.match(textOf(again.loginPage.html), /Sign in with Hospital SSO/, 'the login page, not consent, despite the session');
      t.equal(new URL(again.toProvider).searchParams.get('prompt'), 'login', 'prompt=login passed on to the provider');
    });

    t.test('logout ends the session and goes to the provider’s end_session_endpoint', async (t) => {
      const out = await browser.open(`${stack.base}/oauth/logout`);
      t.equal(out.status, 302);
      const end = new URL(out.location!);
      t.equal(`${end.origin}${end.pathname}`, `${idp.issuer}/session/end`);
      t.equal(end.searchParams.get('id_token_hint'), providerIdToken, 'the provider’s ID token as the hint');
      t.equal(end.searchParams.get('post_logout_redirect_uri'), `${stack.base}/oauth/logged-out`);
      await signedOut(t, stack, browser, 'after logout');
      const loggedOut = await browser.open(`${stack.base}/oauth/logged-out`);
      t.match(textOf(loggedOut.html), /You are signed out/);
    });
    secrets.push(idp.clientSecret, providerIdToken, tokens.access_token, tokens.refresh_token!, callback.searchParams.get('code')!, callback.searchParams.get('state')!);
  });

  t.test('a tampered callback: nobody is signed in', async (t) => {
    const { browser, toProvider } = await pressProviderButton(stack);
    const callback = await idp.signIn(toProvider, 'dr-kim');
    const wrongState = new URL(callback);
    wrongState.searchParams.set('state', 'A'.repeat(43));
    const page = await browser.open(wrongState);
    t.equal(page.status, 400, 'a state never issued');
    t.match(textOf(page.html), /This sign-in has expired/);
    t.notOk(browser.cookie('fhirgw_session'), 'no session cookie');
    await signedOut(t, stack, browser, 'wrong state');
    t.equal((await browser.open(callback)).status, 200, 'the genuine callback still works after a forged one');

    const other = await pressProviderButton(stack);
    const otherCallback = await idp.signIn(other.toProvider, 'dr-kim');
    const stranger = stack.browser();
    const stolen = await stranger.open(otherCallback);
    t.equal(stolen.status, 403, 'a callback in a browser that did not start the sign-in (login CSRF)');
    await signedOut(t, stack, stranger, 'other browser');
  });

  const badIdTokens: [string, (claims: Record<string, unknown>) => Record<string, unknown>, 'provider' | 'foreign'][] = [
    ['an ID token from another issuer', (claims) => ({ ...claims, iss: 'https://evil.example.org' }), 'provider'],
    ['an ID token for another audience', (claims) => ({ ...claims, aud: 'another-client' }), 'provider'],
    ['an expired ID token', (claims) => ({ ...claims, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }), 'provider'],
    ['an ID token signed with another key', (claims) => claims, 'foreign'],
    ['an ID token with another nonce', (claims) => ({ ...claims, nonce: 'not-the-nonce' }), 'provider'],
  ];
  for (const [what, change, signer] of badIdTokens) {
    t.test(`${what}: error page, nobody signed in`, async (t) => {
      const { browser, toProvider } = await pressProviderButton(stack);
      idp.replaceNextIdToken(({ claims }) => idp.mintIdToken(change(claims) as never, signer));
      const page = await browser.open(await idp.signIn(toProvider, 'dr-kim'));
      t.equal(page.status, 502);
      t.match(textOf(page.html), /could not be verified, so nobody was signed in/);
      t.notOk(browser.cookie('fhirgw_session'));
      await signedOut(t, stack, browser, what);
    });
  }

  t.test('cancelled at the provider: access_denied at the app', async (t) => {
    const { browser, request, toProvider } = await pressProviderButton(stack);
    const page = await browser.open(await idp.cancel(toProvider));
    t.equal(page.status, 302);
    const query = appRedirect(page.location);
    t.equal(query.get('error'), 'access_denied');
    t.equal(query.get('state'), request.state);
    t.equal(query.get('iss'), stack.base);
    await signedOut(t, stack, browser, 'cancelled');
  });

  t.test('a person without the claim fhir_user needs: access_denied at the app', async (t) => {
    idp.setAccount('visitor', { name: 'No Employee Id', groups: ['clinicians'] });
    const { browser, request, toProvider } = await pressProviderButton(stack);
    const page = await browser.open(await idp.signIn(toProvider, 'visitor'));
    t.equal(page.status, 302);
    const query = appRedirect(page.location);
    t.equal(query.get('error'), 'access_denied');
    t.equal(query.get('state'), request.state);
    t.notMatch(query.get('error_description'), /employee_id/, 'the app is not told about the person’s claims');
    await signedOut(t, stack, browser, 'unmapped');
  });

  t.test('provider down between its login and the callback: error page, nobody signed in', async (t) => {
    const { browser, toProvider } = await pressProviderButton(stack);
    const callback = await idp.signIn(toProvider, 'dr-kim');
    await idp.stop();
    const page = await browser.open(callback);
    t.equal(page.status, 502);
    t.match(textOf(page.html), /Hospital SSO cannot be reached/);
    await signedOut(t, stack, browser, 'provider down');
    await idp.restart();
  });

  t.test('no secret, code or token in the logs', async (t) => {
    await stack.gateway.stop();
    const logs = stack.gateway.stdout() + stack.gateway.stderr();
    t.match(logs, /federated sign-in refused/, 'the refusals are logged');
    t.ok(secrets.length >= 6);
    for (const secret of secrets) t.notOk(logs.includes(secret), `not logged: ${secret.slice(0, 12)}...`);
  });
});
