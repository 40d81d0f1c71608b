import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { hashPassword } from '../../../../authz/oauth/users/password-hash.js';
import { startFhirUpstream } from '../../../../gateway/demo/fhir-upstream.js';
import { freePort } from '../../../support/free-port.js';
import { startGatewayProcess, waitFor, type GatewayProcess } from '../../../support/gateway-process.js';
import { ALICE, BOB, CookieJar, FORM, formOfPage, WEB_REDIRECT, WEB_SECRET } from '../../../support/oauth-fixtures.js';
import { baseRawConfig } from '../../../support/stack.js';

/**
 * Issue 13, item 2: `login_protection` sets the sign-in lockout, through the CLI-started gateway,
 * on both ways of signing in (the login page and the password grant). Each case comes from its
 * own client address (X-Forwarded-For from a trusted proxy), so the per-IP counts stay apart.
 */


/** What docs/production.md promises, checked first so the page and the behaviour cannot drift apart unnoticed. */
const DOC = readFileSync(new URL('../../../../docs/production.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
const promises = (t: Test, ...sentences: string[]) => {
  for (const sentence of sentences) t.ok(DOC.includes(sentence), `docs/production.md says: "${sentence}"`);
};

const hashes = Promise.all([hashPassword(ALICE.password), hashPassword(BOB.password)]);

async function rawConfig(loginProtection?: Record<string, unknown>): Promise<Record<string, any>> {
  const [aliceHash, bobHash] = await hashes;
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  const raw = baseRawConfig(await freePort(), upstream.baseUrl);
  raw.audit = { enabled: false };
  raw.server.trusted_proxies = ['127.0.0.1'];
  raw.users = [
    { username: ALICE.username, password_hash: aliceHash, patient: 'Patient/pat-alice', scope: 'patient/*.rs' },
    { username: BOB.username, password_hash: bobHash, fhir_user: 'Practitioner/doc-bob', scope: 'user/*.rs' },
  ];
  raw.clients.push({
    client_id: 'web',
    client_secret: WEB_SECRET,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'password'],
    scope: 'launch/patient patient/*.rs user/*.rs',
    redirect_uris: [WEB_REDIRECT],
  });
  if (loginProtection !== undefined) raw.login_protection = loginProtection;
  return raw;
}

interface Answer {
  status: number;
  text: string;
}

/** One sign-in on the login page, from `ip`: open the authorize URL, post the form. */
async function loginPage(gw: GatewayProcess, ip: string, username: string, password: string): Promise<Answer> {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(`${gw.url}/oauth/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: 'web',
    redirect_uri: WEB_REDIRECT,
    scope: 'launch/patient patient/*.rs',
    state: randomBytes(8).toString('hex'),
    aud: gw.url,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const jar = new CookieJar();
  const start = await fetch(url, { redirect: 'manual', headers: { 'x-forwarded-for': ip } });
  jar.take(start);
  const form = formOfPage(start.status, await start.text());
  const res = await fetch(`${gw.url}/oauth/authorize/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': FORM, 'x-forwarded-for': ip, cookie: jar.header()! },
    body: new URLSearchParams({ csrf: form.csrf, interaction: form.interaction, username, password }).toString(),
  });
  return { status: res.status, text: await res.text() };
}

/** One password grant (RFC 6749 §4.3) from `ip`. */
async function passwordGrant(gw: GatewayProcess, ip: string, username: string, password: string): Promise<{ status: number; body: { error?: string; error_description?: string; access_token?: string } }> {
  const res = await fetch(`${gw.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': FORM, 'x-forwarded-for': ip, authorization: 'Basic ' + Buffer.from(`web:${WEB_SECRET}`).toString('base64') },
    body: new URLSearchParams({ grant_type: 'password', username, password, scope: 'user/*.rs' }).toString(),
  });
  return { status: res.status, body: (await res.json()) as never };
}

const WRONG = /Wrong username or password/;
const LOCKED = /Too many failed sign-in attempts/;
const CONSENT = /name="decision"/;

t.test('login_protection: 2 failures per username, 3 per IP, a 3 s lockout', async (t) => {
  const raw = await rawConfig({ max_failures_per_username: 2, max_failures_per_ip: 3, failure_window: '1m', lockout: '3s' });
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

t.test('without login_protection the defaults hold: 2 failures do not lock', async (t) => {
  const gw = await startGatewayProcess(t, { config: await rawConfig() });
  const ip = '10.13.1.1';
  for (const guess of ['guess-1', 'guess-2']) t.match((await loginPage(gw, ip, ALICE.username, guess)).text, WRONG);
  const signedIn = await loginPage(gw, ip, ALICE.username, ALICE.password);
  t.equal(signedIn.status, 200);
  t.match(signedIn.text, CONSENT);
  for (const guess of ['guess-1', 'guess-2']) t.equal((await passwordGrant(gw, ip, BOB.username, guess)).body.error_description, 'Wrong username or password');
  t.ok((await passwordGrant(gw, ip, BOB.username, BOB.password)).body.access_token, 'the password grant too');
});
