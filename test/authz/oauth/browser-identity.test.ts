import t from 'tap';
import { launchChromium, startLandingServer } from '../../support/chromium.js';
import { DR_KIM } from '../../support/federation-fixtures.js';
import { authorizeRequest, fhirGet, redeem, startIdentityStack } from '../../support/identity-stack.js';

/**
 * The whole federated path in headless Chromium, driven from the keyboard where a person would
 * use it: the gateway's login page (the provider's button), the provider's login form, the
 * patient picker, the consent page with "remember", the landing at the app (whose code
 * openid-client exchanges, and whose token reads FHIR), then the account page's withdraw button.
 * Every gateway page is checked for labels, a heading, no script, no inline style and no CSP
 * violation.
 */
t.test('federated sign-in, picker, consent and account page in Chromium', async (t) => {
  // The app's redirect URI: a local server (Chromium must really land there after the redirects).
  const appServer = await startLandingServer(t, (url) => url.pathname === '/callback');
  const redirectUri = `${appServer.origin}/callback`;

  const stack = await startIdentityStack(t, {
    idp: { accounts: { 'dr-kim': DR_KIM } },
    idpEntry: { resource_scope_by_claim: { claim: 'groups', values: { clinicians: 'user/*.rs patient/*.rs' } } },
    appRedirectUris: [redirectUri],
  });
  const app = await stack.app();
  const browser = await launchChromium(t);
  const context = await browser.newContext();
  // Nothing leaves the machine (the provider's development pages @import a web font).
  await context.route((url) => url.hostname !== '127.0.0.1', (route) => route.abort());
  const page = await context.newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });

  /** What every gateway page must be: checked in the rendered DOM (evaluate runs outside the page's CSP). */
  const checkGatewayPage = async (what: string) => {
    t.ok(page.url().startsWith(stack.base), `${what}: a gateway page`);
    const problems = await page.evaluate(() => {
      const found: string[] = [];
      for (const field of document.querySelectorAll<HTMLInputElement>('input:not([type=hidden]), select, textarea')) {
        const label = field.id !== '' ? document.querySelector(`label[for="${field.id}"]`) : null;
        if (!label?.textContent?.trim() && !field.getAttribute('aria-label')) found.push(`no label: ${field.outerHTML}`);
      }
      for (const control of document.querySelectorAll('button, a')) if (!control.textContent?.trim()) found.push(`no text: ${control.outerHTML}`);
      if (document.querySelectorAll('script').length > 0) found.push('a script element');
      if (document.querySelector('[style]') !== null) found.push('an inline style');
      if (document.querySelector('h1') === null) found.push('no h1');
      if (document.documentElement.lang === '') found.push('no lang');
      return found;
    });
    t.same(problems, [], `${what}: labelled, headed, no script or inline style`);
  };

  const request = await authorizeRequest(app, stack.base, { scope: 'launch/patient openid fhirUser patient/*.rs offline_access', redirect_uri: redirectUri });
  await page.goto(request.url.href);
  t.equal(await page.title(), 'Sign in · FHIR Gateway');
  await checkGatewayPage('login page');
  t.equal(await page.getByLabel('Username').count(), 1, 'the local form too (users are configured)');

  // The provider's button, from the keyboard.
  await page.getByRole('button', { name: 'Sign in with Hospital SSO' }).focus();
  await Promise.all([page.waitForURL((url) => url.origin === stack.idp!.issuer), page.keyboard.press('Enter')]);
  await page.fill('input[name=login]', 'dr-kim');
  await page.fill('input[name=password]', 'any password');
  await Promise.all([page.waitForURL((url) => url.href.startsWith(`${stack.base}/oauth/callback/hospital-sso`)), page.click('button[type=submit]')]);

  // The picker: type a name, Enter searches; the first result has focus, Space picks it, Enter goes on.
  t.equal(await page.locator('h1').innerText(), 'Choose a patient');
  await checkGatewayPage('patient picker');
  await page.getByLabel('Name').fill('Okafor');
  await Promise.all([page.waitForURL(`${stack.base}/oauth/authorize/patient`), page.getByLabel('Name').press('Enter')]);
  await checkGatewayPage('picker results');
  const bob = page.getByLabel(/Bob Okafor/);
  t.ok(await bob.evaluate((element) => element === document.activeElement), 'the first result has focus');
  await page.keyboard.press('Space');
  t.ok(await bob.isChecked(), 'chosen from the keyboard');
  await page.keyboard.press('Tab');
  // The consent page comes from the same URL as the results (a post to the picker): wait for it by its heading.
  await page.keyboard.press('Enter');
  await page.locator('h1', { hasText: 'Allow access?' }).waitFor();
  await checkGatewayPage('consent page');
  t.match(await page.locator('.account').innerText(), /Dr Kim Lee[\s\S]*Bob Okafor \(pat-bob\)/);
  const remember = page.getByLabel(/Remember my decision/);
  t.notOk(await remember.isChecked(), 'remember is unticked by default');
  await remember.focus();
  await page.keyboard.press('Space');
  t.ok(await remember.isChecked());
  await Promise.all([page.waitForURL((url) => url.href.startsWith(redirectUri)), page.getByRole('button', { name: 'Allow' }).click()]);
  t.same(violations, [], 'no CSP violation, not even on the redirects after the form posts');

  const tokens = await redeem(app, appServer.landed.at(-1)!.href, request);
  t.equal(tokens.patient, 'pat-bob');
  const read = await fhirGet(stack.base, tokens.access_token, '/Patient/pat-bob');
  t.equal(read.status, 200);
  t.equal(read.body.name[0].family, 'Okafor');

  // The account page: the grant is listed; its withdraw button works from the keyboard.
  await page.goto(`${stack.base}/oauth/account`);
  await checkGatewayPage('account page');
  t.match(await page.locator('.app-list').innerText(), /Chart[\s\S]*Allowed without asking/);
  await page.getByRole('button', { name: 'Withdraw Chart’s access' }).focus();
  await Promise.all([page.waitForURL(`${stack.base}/oauth/account?done=withdrawn`), page.keyboard.press('Enter')]);
  t.match(await page.locator('[role=status]').innerText(), /Access withdrawn/);
  t.equal(await page.locator('.app-list').count(), 0, 'nothing is granted any more');
  t.same(violations, []);
});
