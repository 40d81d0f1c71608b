import t from 'tap';
import { launchChromium, startLandingServer } from '../../../support/chromium.js';
import { startFederation } from '../../../support/federation-fixtures.js';

/**
 * The test provider's login form in headless Chromium, as phase 2's end-to-end tests will use it:
 * a person types a login and a password at the provider and is sent back to the gateway's
 * callback, whose query the federation code accepts; pressing Cancel comes back with
 * access_denied. The "gateway" here is a bare server that records its callback, on the public
 * URL registered at the provider.
 */
t.test('sign in and cancel at the provider in Chromium', async (t) => {
  const gateway = await startLandingServer(t, (url) => url.pathname.startsWith('/oauth/callback/'));
  const callbacks = gateway.landed;

  const fed = await startFederation(t, { idp: { gatewayPublicUrl: gateway.origin } });
  const browser = await launchChromium(t);
  const context = await browser.newContext();
  // The provider's development pages @import a web font; nothing leaves the machine.
  await context.route((url) => url.hostname !== '127.0.0.1', (route) => route.abort());
  const page = await context.newPage();

  const started = await fed.start();
  await page.goto(started.redirectTo.href);
  await page.fill('input[name=login]', 'dr-kim');
  await page.fill('input[name=password]', 'any password');
  await Promise.all([page.waitForURL((url) => url.pathname === '/oauth/callback/hospital-sso'), page.click('button[type=submit]')]);
  t.equal(callbacks.length, 1, 'the browser came back to the registered redirect URI');
  const signedIn = await fed.complete(callbacks[0]!, started.browser);
  t.match(signedIn, { ok: true, person: { subject: 'dr-kim', fhirUser: 'Practitioner/E-1001' }, interactionId: started.interactionId });

  await context.clearCookies();
  const second = await fed.start();
  await page.goto(second.redirectTo.href);
  await Promise.all([page.waitForURL((url) => url.pathname === '/oauth/callback/hospital-sso'), page.click('text=[ Cancel ]')]);
  t.equal(callbacks[1]?.searchParams.get('error'), 'access_denied');
  t.match(await fed.complete(callbacks[1]!, second.browser), { ok: false, kind: 'cancelled', outcome: 'access-denied', interactionId: second.interactionId });
});
