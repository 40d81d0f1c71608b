import t from 'tap';
import { docPromises } from '../../../support/doc-promises.js';
import { startGatewayProcess, waitFor } from '../../../support/gateway-process.js';
import { ALICE, BOB } from '../../../support/oauth-fixtures.js';
import { CONSENT, LOCKED, loginPage, passwordGrant, signInConfig, WRONG } from '../../../support/sign-in.js';

/**
 * Issue 13, item 2: `login_protection` sets the sign-in lockout, through the CLI-started gateway,
 * on both ways of signing in (the login page and the password grant). Each case comes from its
 * own client address (X-Forwarded-For from a trusted proxy), so the per-IP counts stay apart.
 */

const promises = docPromises('docs/production.md');

t.test('login_protection: 2 failures per username, 3 per IP, a 3 s lockout', async (t) => {
  const raw = await signInConfig(t, { max_failures_per_username: 2, max_failures_per_ip: 3, failure_window: '1m', lockout: '3s' });
  const gw = await startGatewayProcess(t, { config: raw });
  promises(t, 'The failure that reaches a limit locks the username or the address for `lockout`; while locked, even the right password is refused');

  t.test('login page: the 2nd failure locks the username; the lockout ends when it says', async (t) => {
    const ip = '10.13.0.1';
    const first = await loginPage(gw, ip, ALICE.username, 'guess-1');
    t.equal(first.status, 401);
    t.match(first.text, WRONG);
    const second = await loginPage(gw, ip, ALICE.username, 'guess-2');
    t.equal(second.status, 401, 'the failure that reaches the limit is still answered as a wrong password');
    t.match(second.text, WRONG);
    const locked = await loginPage(gw, ip, ALICE.username, ALICE.password);
    t.equal(locked.status, 429, 'then even the right password is refused');
    t.match(locked.text, LOCKED);
    t.notMatch(locked.text, CONSENT);
    const elsewhere = await loginPage(gw, '10.13.0.9', ALICE.username, ALICE.password);
    t.equal(elsewhere.status, 429, 'from any address: it is the username that is locked');

    const lockedAt = Date.now();
    await waitFor(async () => (await loginPage(gw, ip, ALICE.username, ALICE.password)).status === 200, 10_000, 'the lockout to end');
    const waited = Date.now() - lockedAt;
    t.ok(waited >= 1_500 && waited < 8_000, `unlocked after the 3 s lockout (${waited} ms after the refused attempt)`);
    const signedIn = await loginPage(gw, ip, ALICE.username, ALICE.password);
    t.equal(signedIn.status, 200);
    t.match(signedIn.text, CONSENT, 'signed in: the consent page');
  });

  t.test('password grant: the same threshold', async (t) => {
    const ip = '10.13.0.2';
    for (const guess of ['guess-1', 'guess-2']) {
      const failed = await passwordGrant(gw, ip, BOB.username, guess);
      t.equal(failed.status, 400);
      t.same(failed.body, { error: 'invalid_grant', error_description: 'Wrong username or password' });
    }
    const locked = await passwordGrant(gw, ip, BOB.username, BOB.password);
    t.equal(locked.status, 400);
    t.equal(locked.body.error, 'invalid_grant');
    t.match(locked.body.error_description, LOCKED);
    t.notOk(locked.body.access_token);
  });

  t.test('per IP: the 3rd failure from one address locks the address, for every username, and only that address', async (t) => {
    const ip = '10.13.0.3';
    for (const name of ['nobody-1', 'nobody-2', 'nobody-3']) {
      t.match((await loginPage(gw, ip, name, 'x')).text, WRONG, `${name}: one failure each, no username reaches 2`);
    }
    const locked = await loginPage(gw, ip, ALICE.username, ALICE.password);
    t.equal(locked.status, 429, 'alice, right password, from the locked address: refused');
    const grant = await passwordGrant(gw, ip, ALICE.username, ALICE.password);
    t.match(grant.body.error_description, LOCKED, 'the password grant too');
    const other = await loginPage(gw, '10.13.0.4', ALICE.username, ALICE.password);
    t.equal(other.status, 200, 'alice from another address signs in');
  });

  t.test('a reload (SIGHUP) applies new thresholds to the next attempt', async (t) => {
    gw.writeConfig({ ...raw, login_protection: { max_failures_per_username: 1, max_failures_per_ip: 3, failure_window: '1m', lockout: '1m' } });
    gw.kill('SIGHUP');
    await waitFor(() => gw.logs.some((l) => l.msg === 'configuration reloaded'), 10_000, 'the reload');
    const ip = '10.13.0.5';
    t.match((await loginPage(gw, ip, ALICE.username, 'guess')).text, WRONG);
    t.equal((await loginPage(gw, ip, ALICE.username, ALICE.password)).status, 429, 'one failure now locks');
  });
});
