import t from 'tap';
import { startGatewayProcess } from '../../../support/gateway-process.js';
import { ALICE, BOB } from '../../../support/oauth-fixtures.js';
import { CONSENT, loginPage, passwordGrant, signInConfig, WRONG } from '../../../support/sign-in.js';

/**
 * Issue 13, item 2: without `login_protection` the gateway keeps the lockout it always had (5 per
 * username: test/authz/oauth/password-implicit.test.ts), so the 2 failures that lock in
 * login-protection.test.ts do not lock here: the thresholds are what makes the difference.
 */

t.test('without login_protection the defaults hold: 2 failures do not lock', async (t) => {
  const gw = await startGatewayProcess(t, { config: await signInConfig(t) });
  const ip = '10.13.1.1';
  for (const guess of ['guess-1', 'guess-2']) t.match((await loginPage(gw, ip, ALICE.username, guess)).text, WRONG);
  const signedIn = await loginPage(gw, ip, ALICE.username, ALICE.password);
  t.equal(signedIn.status, 200);
  t.match(signedIn.text, CONSENT);
  for (const guess of ['guess-1', 'guess-2']) t.equal((await passwordGrant(gw, ip, BOB.username, guess)).body.error_description, 'Wrong username or password');
  t.ok((await passwordGrant(gw, ip, BOB.username, BOB.password)).body.access_token, 'the password grant too');
});
