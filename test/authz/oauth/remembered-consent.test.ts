import t from 'tap';
import * as oidc from 'openid-client';
import {
  APP,
  appRedirect,
  authorizeRequest,
  fhirGet,
  OTHER_APP,
  PATIENT_USER,
  redeem,
  startIdentityStack,
  textOf,
  type PageBrowser,
} from '../../support/identity-stack.js';
import { rejectsWithOAuthError } from '../../support/oauth-fixtures.js';

/**
 * Remembered, revocable consent through the CLI-started gateway, on Redis: a ticked "remember"
 * skips the consent page for the same or fewer scopes, a new scope or prompt=consent shows it
 * again, prompt=none answers silently or with the OIDC error; the account page lists what the
 * person granted and withdraws it, after which the app's refresh and access tokens stop working
 * and a code issued before the withdrawal cannot be redeemed.
 */

const GRANTED = 'openid fhirUser patient/*.rs offline_access';

t.test('remembered consent and the account page', async (t) => {
  const stack = await startIdentityStack(t, { redis: true });
  const app = await stack.app();
  const browser = stack.browser();
  const authorize = (scope: string, extra: Record<string, string> = {}, using: PageBrowser = browser) =>
    authorizeRequest(app, stack.base, { scope, ...extra }).then(async (request) => ({ request, page: await using.open(request.url) }));

  const login = await authorize(GRANTED);
  const consent = await browser.submit(login.page, '/oauth/authorize/login', { username: PATIENT_USER.username, password: PATIENT_USER.password });
  t.match(consent.html, /<input class="check-input" id="remember" name="remember" type="checkbox" value="on">/, 'a remember checkbox, unticked');
  t.match(consent.html, /<label class="check-label" for="remember">/, 'with its label');
  const allowed = await browser.submit(consent, '/oauth/authorize/consent', { decision: 'allow', remember: 'on' });
  const first = await redeem(app, allowed.location!, login.request);
  t.ok(first.refresh_token);

  t.test('the same or fewer scopes skip the consent page', async (t) => {
    for (const scope of [GRANTED, 'openid patient/*.rs']) {
      const { request, page } = await authorize(scope);
      t.equal(page.status, 302, `${scope}: straight back to the app`);
      const tokens = await redeem(app, page.location!, request);
      t.equal(tokens.scope, scope);
      t.equal(tokens.patient, PATIENT_USER.patient);
    }
  });

  t.test('a new scope, or prompt=consent, asks again', async (t) => {
    const wider = await authorize(`${GRANTED} launch/patient`);
    t.equal(wider.page.status, 200);
    t.match(textOf(wider.page.html), /Allow access\?/, 'launch/patient was not part of the remembered consent');
    const forced = await authorize(GRANTED, { prompt: 'consent' });
    t.equal(forced.page.status, 200);
    t.match(textOf(forced.page.html), /Allow access\?/, 'prompt=consent');
  });

  t.test('prompt=none', async (t) => {
    const silent = await authorize(GRANTED, { prompt: 'none' });
    t.equal(silent.page.status, 302);
    t.ok(appRedirect(silent.page.location).get('code'), 'a live session and a remembered consent: a code, silently');
    const wider = await authorize(`${GRANTED} launch/patient`, { prompt: 'none' });
    t.equal(appRedirect(wider.page.location).get('error'), 'consent_required');
    const stranger = await authorize(GRANTED, { prompt: 'none' }, stack.browser());
    t.equal(appRedirect(stranger.page.location).get('error'), 'login_required', 'nobody signed in');
    const mixed = await authorize(GRANTED, { prompt: 'none login' });
    t.equal(appRedirect(mixed.page.location).get('error'), 'invalid_request', 'none cannot be combined');
  });

  t.test('an unticked box remembers nothing', async (t) => {
    const otherApp = () =>
      new URLSearchParams({
        response_type: 'code',
        client_id: OTHER_APP.clientId,
        redirect_uri: OTHER_APP.redirectUri,
        scope: 'openid patient/*.rs',
        aud: stack.base,
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      });
    const consentPage = await browser.open(`${stack.base}/oauth/authorize?${otherApp()}`);
    t.equal(consentPage.status, 200, 'signed in: consent for the other app');
    const allowed = await browser.submit(consentPage, '/oauth/authorize/consent', { decision: 'allow' });
    t.equal(allowed.status, 303);
    const again = await browser.open(`${stack.base}/oauth/authorize?${otherApp()}`);
    t.equal(again.status, 200, 'asked again');
  });

  t.test('the account page lists the grant and withdraws it', async (t) => {
    const rotated = await oidc.refreshTokenGrant(app, first.refresh_token!);
    const account = await browser.open(`${stack.base}/oauth/account`);
    t.equal(account.status, 200);
    const text = textOf(account.html);
    t.match(text, /Your app access Signed in as alice \(Patient\/pat-alice\)/);
    t.match(text, /Chart Allowed without asking since \d{4}-\d{2}-\d{2}:/);
    t.match(text, /openid fhirUser patient\/\*\.rs offline_access/);
    t.equal(text.match(/Can keep its access without you/g)?.length, 1, 'only Chart holds refresh tokens');
    t.equal(account.html.match(/<li>since /g)?.length ?? 0, 2, 'two grants with offline_access so far, each listed once (one of them rotated since)');
    t.notMatch(text, /other-app.*Allowed without asking/, 'nothing remembered for the other app');
    const withdrawForm = account.forms.find((form) => form.hidden['client_id'] === APP.clientId)!;
    t.ok(withdrawForm, 'a withdraw button for Chart');
    t.match(account.html, /<button class="button button-danger" type="submit">Withdraw Chart’s access<\/button>/);

    // A code issued while the consent stands, redeemed only after it was withdrawn.
    const pending = await authorize(GRANTED);
    t.equal(pending.page.status, 302, 'still remembered: a code');

    const forged = await browser.post(withdrawForm.action, { client_id: APP.clientId });
    t.equal(forged.status, 403, 'without the CSRF token: refused');
    const stranger = stack.browser();
    const strangerPost = await stranger.post(withdrawForm.action, { ...withdrawForm.hidden });
    t.equal(strangerPost.status, 403, 'from a browser that is not signed in: refused');
    t.equal((await fhirGet(stack.base, rotated.access_token, '/Patient/pat-alice')).status, 200, 'so far the app still has access');

    const withdrawn = await browser.post(withdrawForm.action, { ...withdrawForm.hidden });
    t.equal(withdrawn.status, 303);
    t.equal(withdrawn.location, `${stack.base}/oauth/account?done=withdrawn`);
    const after = await browser.open(withdrawn.location!);
    t.match(textOf(after.html), /Access withdrawn/);
    t.notOk(after.forms.some((form) => form.hidden['client_id'] === APP.clientId), 'Chart is no longer listed');

    await rejectsWithOAuthError(t, oidc.refreshTokenGrant(app, rotated.refresh_token!), 'invalid_grant', 'the refresh token stopped working');
    t.equal((await fhirGet(stack.base, rotated.access_token, '/Patient/pat-alice')).status, 401, 'and the access token');
    await rejectsWithOAuthError(t, redeem(app, pending.page.location!, pending.request), 'invalid_grant', 'a code issued before the withdrawal cannot be redeemed after it');

    const asked = await authorize(GRANTED);
    t.equal(asked.page.status, 200, 'the app must ask again');
    t.match(textOf(asked.page.html), /Allow access\?/);
    const regranted = await browser.submit(asked.page, '/oauth/authorize/consent', { decision: 'allow' });
    t.ok((await redeem(app, regranted.location!, asked.request)).access_token, 'and a new grant works at once');
  });

  t.test('not signed in: the account page says so', async (t) => {
    const page = await stack.browser().open(`${stack.base}/oauth/account`);
    t.equal(page.status, 403);
    t.match(textOf(page.html), /You are not signed in/);
  });
});
