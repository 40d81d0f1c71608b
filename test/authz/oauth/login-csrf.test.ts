import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext } from 'playwright-core';
import { hashPassword } from '../../../authz/oauth/users/password-hash.js';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { launchChromium } from '../../support/chromium.js';
import { freePort } from '../../support/free-port.js';
import { startGatewayProcess } from '../../support/gateway-process.js';
import { ALICE, CookieJar, formOfPage, postForm } from '../../support/oauth-fixtures.js';
import { baseRawConfig } from '../../support/stack.js';

/**
 * Issue 12, item 9 (login CSRF, OWASP ASVS V4.2.2). The attacker opens a sign-in of their own,
 * then makes the victim's browser post that login form, with the attacker's credentials, from a
 * page on another site. Before the fix the victim ended up signed in as the attacker. Now the
 * login form and its interaction are bound to a SameSite cookie set when the flow started, and a
 * post without it (or with another browser's) is refused. Driven against the CLI-started gateway,
 * in Chromium (attacker and victim in two browser contexts) and over plain HTTP.
 */

const MALLORY = { username: 'mallory', password: 'mallory-password-42' };
const REDIRECT = 'https://app.example.org/cb';

t.test('login CSRF', async (t) => {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  const raw = baseRawConfig(await freePort(), upstream.baseUrl);
  raw.audit = { enabled: false };
  raw.users = [
    { username: ALICE.username, password_hash: await hashPassword(ALICE.password), scope: 'user/*.rs', fhir_user: 'Practitioner/alice' },
    { username: MALLORY.username, password_hash: await hashPassword(MALLORY.password), scope: 'user/*.rs', fhir_user: 'Practitioner/mallory' },
  ];
  raw.clients.push({ client_id: 'app', token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], scope: 'openid user/*.rs', redirect_uris: [REDIRECT] });
  const gw = await startGatewayProcess(t, { config: raw });
  const authorizeUrl = (state: string) =>
    `${gw.url}/oauth/authorize?${new URLSearchParams({
      response_type: 'code',
      client_id: 'app',
      redirect_uri: REDIRECT,
      scope: 'user/Patient.rs',
      state,
      aud: gw.url,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    })}`;
  const loginUrl = `${gw.url}/oauth/authorize/login`;

  /** The attacker starts a sign-in of their own, in their own browser: its form fields and cookies. */
  const attackerForm = async () => {
    const jar = new CookieJar();
    const res = await fetch(authorizeUrl('attacker'));
    jar.take(res);
    return { form: formOfPage(res.status, await res.text()), jar };
  };

  t.test('the flow-binding cookie', async (t) => {
    const first = await fetch(authorizeUrl('c1'));
    const setCookie = first.headers.getSetCookie().find((c) => c.startsWith('fhirgw_flow='));
    await first.arrayBuffer();
    t.match(setCookie, /^fhirgw_flow=[A-Za-z0-9_-]{43}; Path=\/oauth\/; Max-Age=600; HttpOnly; SameSite=Lax$/, 'HttpOnly, SameSite=Lax, only for /oauth/, as long as a sign-in may take (not Secure over http)');
    const value = setCookie!.split(';')[0]!;
    const again = await fetch(authorizeUrl('c2'), { headers: { cookie: value } });
    await again.arrayBuffer();
    t.equal(again.headers.getSetCookie().find((c) => c.startsWith('fhirgw_flow='))?.split(';')[0], value, 'a browser keeps its binding across flows (two tabs do not overwrite each other)');
  });

  t.test('plain HTTP: the login post needs the cookie of the browser that opened the form', async (t) => {
    const { form, jar } = await attackerForm();
    const fields = { csrf: form.csrf, interaction: form.interaction, ...MALLORY };

    const noCookie = await postForm(loginUrl, fields);
    t.equal(noCookie.status, 403, 'no cookie (what a cross-site post sends): 403');
    t.same(noCookie.headers.getSetCookie(), [], 'and no session cookie');
    t.match(await noCookie.text(), /did not send the cookie/);

    const victim = new CookieJar();
    victim.take(await fetch(authorizeUrl('victim')));
    const othersCookie = await postForm(loginUrl, fields, victim.header());
    t.equal(othersCookie.status, 403, "another browser's cookie (the victim's own flow): 403");
    t.same(othersCookie.headers.getSetCookie(), [], 'no session cookie');
    await othersCookie.arrayBuffer();

    const forged = await postForm(loginUrl, fields, `fhirgw_flow=${'A'.repeat(43)}`);
    t.equal(forged.status, 403, 'a made-up cookie value: 403');
    await forged.arrayBuffer();

    const own = await postForm(loginUrl, fields, jar.header());
    t.equal(own.status, 200, 'the refused posts did not use up the interaction: from its own browser it signs in');
    t.match(await own.text(), /name="decision" value="allow"/, 'consent page');
  });

  t.test('plain HTTP: the consent post too', async (t) => {
    const { form, jar } = await attackerForm();
    const login = await postForm(loginUrl, { csrf: form.csrf, interaction: form.interaction, ...MALLORY }, jar.header());
    jar.take(login);
    const consent = formOfPage(login.status, await login.text());
    const session = jar.header()!.split('; ').find((c) => c.startsWith('fhirgw_session='))!;
    const elsewhere = new CookieJar();
    elsewhere.take(await fetch(authorizeUrl('elsewhere')));
    const refused = await postForm(`${gw.url}/oauth/authorize/consent`, { csrf: consent.csrf, interaction: consent.interaction, decision: 'allow' }, `${session}; ${elsewhere.header()}`);
    t.equal(refused.status, 403, "the session with another browser's binding: 403");
    await refused.arrayBuffer();
    const allowed = await postForm(`${gw.url}/oauth/authorize/consent`, { csrf: consent.csrf, interaction: consent.interaction, decision: 'allow' }, jar.header());
    t.equal(allowed.status, 303, 'from the browser that signed in: the redirect with a code');
    t.match(allowed.headers.get('location'), /^https:\/\/app\.example\.org\/cb\?code=/);
  });

  t.test('Chromium: a cross-site page posts the attacker’s login from the victim’s browser', async (t) => {
    // The attacker's page lives on another site: localhost is not the same site as 127.0.0.1.
    let formHtml = '';
    const attackerSite = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(formHtml));
    await new Promise<void>((resolve) => attackerSite.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => attackerSite.close(() => resolve())));
    const attackerPage = `http://localhost:${(attackerSite.address() as AddressInfo).port}/win-a-prize`;

    const browser = await launchChromium(t);

    /** The attacker, in their own browser context, opens a sign-in and copies the form's fields. */
    const attackerFields = async (attacker: BrowserContext) => {
      const page = await attacker.newPage();
      await page.goto(authorizeUrl('attacker'));
      const fields = {
        csrf: await page.inputValue('input[name=csrf]'),
        interaction: await page.inputValue('input[name=interaction]'),
      };
      await page.close();
      return fields;
    };
    const trap = (fields: Record<string, string>) =>
      `<!doctype html><title>Prize</title><form id="f" method="post" action="${loginUrl}">` +
      Object.entries({ ...fields, ...MALLORY })
        .map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`)
        .join('') +
      `</form><script>document.getElementById('f').submit()</script>`;

    /** The victim visits the attacker's page; returns the status of the login post it made. */
    const visitTrap = async (victim: BrowserContext) => {
      const page = await victim.newPage();
      const posted = page.waitForResponse((res) => res.url() === loginUrl && res.request().method() === 'POST');
      await page.goto(attackerPage);
      const response = await posted;
      await page.waitForLoadState();
      const status = response.status();
      const text = await page.locator('body').innerText();
      await page.close();
      return { status, text };
    };
    const signedInAs = async (victim: BrowserContext) => {
      const page = await victim.newPage();
      await page.goto(authorizeUrl('later'));
      const login = await page.locator('input[name=password]').count();
      const account = login ? undefined : await page.locator('.account').innerText();
      await page.close();
      return account;
    };

    const attacker = await browser.newContext();
    t.teardown(() => attacker.close());

    for (const [name, prepare] of [
      ['a fresh victim browser', async () => undefined],
      ['a victim that started a sign-in of its own before', async (victim: BrowserContext) => {
        const page = await victim.newPage();
        await page.goto(authorizeUrl('victim-own'));
        await page.close();
      }],
    ] as const) {
      t.test(name, async (t) => {
        formHtml = trap(await attackerFields(attacker));
        const victim = await browser.newContext();
        t.teardown(() => victim.close());
        await prepare(victim);
        const result = await visitTrap(victim);
        t.equal(result.status, 403, 'the forged login post is refused');
        t.match(result.text, /did not send the cookie/, 'SameSite kept the binding cookie off the cross-site post');
        t.notMatch(result.text, /mallory/, 'no page shows the attacker as the signed-in user');
        t.notOk((await victim.cookies()).some((c) => c.name === 'fhirgw_session'), 'the victim’s browser got no session cookie');
        t.equal(await signedInAs(victim), undefined, 'the victim’s next sign-in shows the login page, not consent as the attacker');
      });
    }

    t.test('control: the same form posted from the attacker’s own browser signs in', async (t) => {
      const fields = await attackerFields(attacker);
      formHtml = trap(fields);
      const page = await attacker.newPage();
      const posted = page.waitForResponse((res) => res.url() === loginUrl);
      // Same-site this time: the page comes from the gateway's own origin (a login page it serves).
      await page.goto(authorizeUrl('control'));
      await page.fill('input[name=username]', MALLORY.username);
      await page.fill('input[name=password]', MALLORY.password);
      await page.evaluate(({ csrf, interaction }) => {
        (document.querySelector('input[name=csrf]') as HTMLInputElement).value = csrf;
        (document.querySelector('input[name=interaction]') as HTMLInputElement).value = interaction;
      }, fields);
      await page.click('button[type=submit]');
      t.equal((await posted).status(), 200, 'with the browser’s own cookie the form works');
      await page.waitForLoadState();
      t.match(await page.locator('.account').innerText(), /mallory/);
      await page.close();
    });
  });
});
