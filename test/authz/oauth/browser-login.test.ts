import t from 'tap';
import * as oidc from 'openid-client';
import { launchChromium, startLandingServer } from '../../support/chromium.js';
import { ALICE, authorizeUrl, discover, fhirGet, PATIENT_ID, startOAuthStack, WEB_SECRET } from '../../support/oauth-fixtures.js';

/**
 * The login and consent pages in real headless Chromium: the CSP (including form-action on the
 * redirect after the consent POST), the cookie and the forms as a person would use them. The
 * app is a tiny HTTP server on 127.0.0.1 that records the query it is redirected to.
 */
t.test('login and consent in Chromium', async (t) => {
  const app = await startLandingServer(t, (url) => url.pathname === '/callback');
  const redirectUri = `${app.origin}/callback`;

  const stack = await startOAuthStack(t, { store: 'memory', webRedirects: [redirectUri] });
  const web = await discover(stack, 'web', oidc.ClientSecretBasic(WEB_SECRET));
  const browser = await launchChromium(t);
  // One page for all steps (opening a page costs Chromium about two seconds); each step starts
  // signed out by clearing the cookies.
  const context = await browser.newContext();
  const page = await context.newPage();
  const violations: string[] = [];
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) violations.push(msg.text());
  });

  const start = async (verifier: string, state: string) =>
    authorizeUrl(web, stack, {
      redirect_uri: redirectUri,
      scope: 'launch/patient openid fhirUser patient/*.rs',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce: 'n-' + state,
    });

  t.test('sign in, allow, land on the app with a code that works', async (t) => {
    await context.clearCookies();
    const verifier = oidc.randomPKCECodeVerifier();
    await page.goto((await start(verifier, 'browser-1')).href);
    t.equal(await page.title(), 'Sign in · FHIR Gateway');
    t.ok(await page.locator('link[rel=stylesheet]').count(), 'styled by the external stylesheet');
    await page.fill('input[name=username]', ALICE.username);
    await page.fill('input[name=password]', ALICE.password);
    await Promise.all([page.waitForURL(/\/oauth\/authorize\/login$/), page.click('button[type=submit]')]);

    const consentText = await page.locator('.scope-list').innerText();
    t.match(consentText, /Read and search your health records/, 'scopes listed in plain words');
    t.match(consentText, /Know which patient record is open/);
    t.match(await page.locator('.account').innerText(), /alice/);
    await Promise.all([page.waitForURL((url) => url.href.startsWith(redirectUri)), page.click('button[name=decision][value=allow]')]);
    t.same(violations, [], 'no CSP violation, not even on the redirect after the form post');

    const query = app.landed.at(-1)!.searchParams;
    t.equal(query.get('state'), 'browser-1');
    t.ok(query.get('code'), 'landed on the app with a code');
    const tokens = await oidc.authorizationCodeGrant(web, new URL(`${redirectUri}?${query}`), {
      pkceCodeVerifier: verifier,
      expectedState: 'browser-1',
      expectedNonce: 'n-browser-1',
    });
    t.equal(tokens.patient, PATIENT_ID);
    t.equal((await fhirGet(stack, tokens.access_token, `/Patient/${PATIENT_ID}`)).status, 200);

    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'fhirgw_session');
    t.ok(session?.httpOnly, 'the session cookie is HttpOnly');
    t.equal(session?.sameSite, 'Lax');

    await page.goto((await start(oidc.randomPKCECodeVerifier(), 'browser-2')).href);
    t.equal(await page.locator('input[name=password]').count(), 0, 'signed in: no login page the second time');
    t.equal(await page.locator('button[name=decision][value=allow]').count(), 1, 'straight to consent');
  });

  t.test('deny sends access_denied back to the app', async (t) => {
    await context.clearCookies();
    await page.goto((await start(oidc.randomPKCECodeVerifier(), 'browser-deny')).href);
    await page.fill('input[name=username]', ALICE.username);
    await page.fill('input[name=password]', ALICE.password);
    await Promise.all([page.waitForURL(/\/login$/), page.click('button[type=submit]')]);
    await Promise.all([page.waitForURL((url) => url.href.startsWith(redirectUri)), page.click('button[name=decision][value=deny]')]);
    const query = app.landed.at(-1)!.searchParams;
    t.equal(query.get('error'), 'access_denied');
    t.equal(query.get('state'), 'browser-deny');
    t.equal(query.get('code'), null);
  });

  t.test('a wrong password shows an error on the page', async (t) => {
    await context.clearCookies();
    await page.goto((await start(oidc.randomPKCECodeVerifier(), 'browser-wrong')).href);
    await page.fill('input[name=username]', ALICE.username);
    await page.fill('input[name=password]', 'not the password');
    await Promise.all([page.waitForURL(/\/login$/), page.click('button[type=submit]')]);
    t.match(await page.locator('[role=alert]').innerText(), /Wrong username or password/);
    t.equal(await page.inputValue('input[name=username]'), ALICE.username, 'the username is kept');
    t.equal(await page.inputValue('input[name=password]'), '', 'the password is not');
    // ...and the form still works after the failure.
    await page.fill('input[name=password]', ALICE.password);
    await Promise.all([page.waitForURL(/\/login$/), page.click('button[type=submit]')]);
    t.equal(await page.locator('button[name=decision][value=allow]').count(), 1, 'the retry reaches consent');
  });
});
