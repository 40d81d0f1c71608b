import t from 'tap';
import * as oidc from 'openid-client';
import {
  ALICE,
  authorizeInBrowser,
  CODE_ONLY_REDIRECT,
  CookieJar,
  FORM,
  formOfPage,
  postForm,
  SPA_REDIRECT,
  startOAuthStack,
  WEB_REDIRECT,
  WEB_SECRET,
} from '../../support/oauth-fixtures.js';

/**
 * GET /oauth/authorize and its pages, driven over plain HTTP: every bad request either gets an
 * error page (client or redirect_uri not trustworthy) or a redirect with error and state; the
 * forms refuse missing or foreign CSRF tokens; and the token endpoint refuses every way of
 * misusing a code.
 */
t.test('authorization endpoint', async (t) => {
  const stack = await startOAuthStack(t, { store: 'memory', edit: (raw) => (raw.tokens.authorization_code_ttl = '1s') });
  const base = stack.gateway.url;
  const challenge = await oidc.calculatePKCECodeChallenge('v'.repeat(43));
  const valid = {
    client_id: 'spa',
    response_type: 'code',
    redirect_uri: SPA_REDIRECT,
    scope: 'launch/patient patient/Patient.rs',
    aud: base,
    state: 'st-123',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  };
  const authorize = (params: Record<string, string | undefined>, init: RequestInit = {}) => {
    const query = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
    return fetch(`${base}/oauth/authorize?${query}`, { redirect: 'manual', ...init });
  };

  t.test('unknown client or unregistered redirect_uri: an error page, never a redirect', async (t) => {
    const cases: Record<string, Record<string, string | undefined>> = {
      'unknown client': { ...valid, client_id: 'nobody' },
      'missing client_id': { ...valid, client_id: undefined },
      'redirect_uri not registered': { ...valid, redirect_uri: 'https://evil.example.com/cb' },
      'same host, other path': { ...valid, redirect_uri: 'https://spa.example.org/other' },
      'extra query': { ...valid, redirect_uri: `${SPA_REDIRECT}?x=1` },
      'other port': { ...valid, redirect_uri: 'https://spa.example.org:8443/cb' },
      'trailing slash': { ...valid, redirect_uri: `${SPA_REDIRECT}/` },
      'missing redirect_uri': { ...valid, redirect_uri: undefined },
      "another client's redirect_uri": { ...valid, redirect_uri: WEB_REDIRECT },
    };
    for (const [name, params] of Object.entries(cases)) {
      const res = await authorize(params);
      t.equal(res.status, 400, `${name}: 400`);
      t.equal(res.headers.get('location'), null, `${name}: no redirect`);
      t.match(res.headers.get('content-type'), /text\/html/, `${name}: a page`);
      t.equal(res.headers.get('x-frame-options'), 'DENY');
    }
  });

  t.test('other errors redirect with error, error_description and state', async (t) => {
    const cases: [string, Record<string, string | undefined>, string, 'query' | 'fragment'][] = [
      ['unsupported response_type', { ...valid, response_type: 'id_token' }, 'unsupported_response_type', 'query'],
      ['missing response_type', { ...valid, response_type: undefined }, 'unsupported_response_type', 'query'],
      ['plain PKCE', { ...valid, code_challenge: 'v'.repeat(43), code_challenge_method: 'plain' }, 'invalid_request', 'query'],
      ['PKCE without a method', { ...valid, code_challenge_method: undefined }, 'invalid_request', 'query'],
      ['public client without PKCE', { ...valid, code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request', 'query'],
      ['aud of another server', { ...valid, aud: 'https://other.example.org/fhir' }, 'invalid_request', 'query'],
      ['missing aud', { ...valid, aud: undefined }, 'invalid_request', 'query'],
      ['mixed scope contexts', { ...valid, scope: 'patient/Patient.rs user/Patient.rs' }, 'invalid_scope', 'query'],
      ['system/ scope in a user flow', { ...valid, scope: 'system/Patient.rs' }, 'invalid_scope', 'query'],
      ['scope beyond the client', { ...valid, scope: 'patient/Patient.cruds' }, 'invalid_scope', 'query'],
      ['missing scope', { ...valid, scope: undefined }, 'invalid_scope', 'query'],
      ['implicit for a client not allowed it', { ...valid, client_id: 'code-only', redirect_uri: CODE_ONLY_REDIRECT, response_type: 'token' }, 'unauthorized_client', 'fragment'],
    ];
    for (const [name, params, error, mode] of cases) {
      const res = await authorize(params);
      t.equal(res.status, 302, `${name}: redirect`);
      const location = new URL(res.headers.get('location')!);
      const got = mode === 'query' ? location.searchParams : new URLSearchParams(location.hash.slice(1));
      t.equal(got.get('error'), error, `${name}: ${error}`);
      t.ok(got.get('error_description'), `${name}: described`);
      t.equal(got.get('state'), 'st-123', `${name}: state echoed`);
      t.equal(`${location.origin}${location.pathname}`, params.redirect_uri, `${name}: to the registered redirect_uri`);
    }
    const repeated = await fetch(`${base}/oauth/authorize?${new URLSearchParams(valid)}&scope=openid`, { redirect: 'manual' });
    t.equal(new URL(repeated.headers.get('location')!).searchParams.get('error'), 'invalid_request', 'a repeated parameter');
  });

  t.test('the login page: CSRF token, CSP, no script, no framing', async (t) => {
    const res = await authorize(valid);
    t.equal(res.status, 200);
    const html = await res.text();
    t.match(html, /name="username"/);
    t.match(html, /name="password"/);
    t.notMatch(html, /<script/i, 'no script at all');
    const csp = res.headers.get('content-security-policy') ?? '';
    t.match(csp, /default-src 'none'/);
    t.match(csp, /form-action 'self' https:\/\/spa\.example\.org/, 'the redirect origin may follow the form post (Chrome)');
    t.equal(res.headers.get('x-frame-options'), 'DENY');
    t.equal(res.headers.get('cache-control'), 'no-store');
    const css = await fetch(`${base}/oauth/assets/styles.css`);
    t.match(css.headers.get('content-type'), /text\/css/, 'the stylesheet is served');
  });

  t.test('state is optional and then not invented', async (t) => {
    const { state: _state, ...withoutState } = valid;
    const run = await authorizeInBrowser(stack, `${base}/oauth/authorize?${new URLSearchParams(withoutState)}`);
    const location = new URL(run.location!);
    t.ok(location.searchParams.get('code'));
    t.equal(location.searchParams.get('state'), null, 'no state in, no state out');
  });

  t.test('login form: CSRF, wrong password, unknown user, session cookie', async (t) => {
    // One browser: the flow-binding cookie of the first authorize request comes back on every
    // later request (issue 12 item 9; test/authz/oauth/login-csrf.test.ts tests its absence).
    const browser = new CookieJar();
    const open = async () => {
      const res = await authorize(valid, { headers: browser.header() ? { cookie: browser.header()! } : {} });
      browser.take(res);
      return formOfPage(200, await res.text());
    };
    const page = await open();
    const other = await open();
    const login = (fields: Record<string, string>) => postForm(`${base}/oauth/authorize/login`, fields, browser.header());
    const credentials = { username: ALICE.username, password: ALICE.password };

    const noCsrf = await login({ interaction: page.interaction, ...credentials });
    t.equal(noCsrf.status, 403, 'without a CSRF token');
    t.notOk(noCsrf.headers.get('set-cookie'), 'no session');
    const foreign = await login({ interaction: page.interaction, csrf: other.csrf, ...credentials });
    t.equal(foreign.status, 403, "with another interaction's (stale) CSRF token");
    const forged = await login({ interaction: page.interaction, csrf: `${Math.floor(Date.now() / 1000) - 3600}.${'A'.repeat(43)}`, ...credentials });
    t.equal(forged.status, 403, 'with a forged, old CSRF token');

    const wrong = await login({ interaction: page.interaction, csrf: page.csrf, username: ALICE.username, password: 'nope' });
    t.equal(wrong.status, 401);
    const wrongHtml = await wrong.text();
    t.match(wrongHtml, /Wrong username or password/);
    const unknown = await login({ interaction: page.interaction, csrf: page.csrf, username: 'mallory', password: 'nope' });
    t.equal(unknown.status, 401);
    t.match(await unknown.text(), /Wrong username or password/, 'unknown user: the same message');

    const retry = formOfPage(401, wrongHtml);
    const ok = await login({ interaction: retry.interaction, csrf: retry.csrf, ...credentials });
    t.equal(ok.status, 200, 'the rejected posts did not use up the interaction');
    const cookie = ok.headers.get('set-cookie') ?? '';
    t.match(cookie, /^fhirgw_session=[^;]+; Path=\/oauth\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/, 'HttpOnly, SameSite=Lax, not Secure over http');
    const consent = formOfPage(200, await ok.text());
    t.match(consent.html, /name="decision" value="allow"/);
    t.match(consent.html, /name="decision" value="deny"/);

    const withoutSession = await postForm(`${base}/oauth/authorize/consent`, { csrf: consent.csrf, interaction: consent.interaction, decision: 'allow' }, browser.header());
    t.equal(withoutSession.status, 403, 'consent from a browser without the session is refused');
    browser.take(ok);
    const twice = await postForm(`${base}/oauth/authorize/consent`, { csrf: consent.csrf, interaction: consent.interaction, decision: 'allow' }, browser.header());
    t.equal(twice.status, 400, 'and that attempt used the interaction up');
  });

  t.test('deny: access_denied with the state', async (t) => {
    const run = await authorizeInBrowser(stack, `${base}/oauth/authorize?${new URLSearchParams(valid)}`, { decision: 'deny' });
    const location = new URL(run.location!);
    t.equal(location.searchParams.get('error'), 'access_denied');
    t.equal(location.searchParams.get('state'), 'st-123');
    t.equal(location.searchParams.get('code'), null);
  });

  t.test('misusing a code at the token endpoint', async (t) => {
    const verifier = oidc.randomPKCECodeVerifier();
    const getCode = async (clientId = 'spa', redirectUri = SPA_REDIRECT, pkce = true) => {
      const params: Record<string, string> = { ...valid, client_id: clientId, redirect_uri: redirectUri };
      if (pkce) params.code_challenge = await oidc.calculatePKCECodeChallenge(verifier);
      else (delete params.code_challenge, delete params.code_challenge_method);
      if (clientId === 'web') params.scope = 'launch/patient patient/Patient.rs';
      const run = await authorizeInBrowser(stack, `${base}/oauth/authorize?${new URLSearchParams(params)}`);
      return new URL(run.location!).searchParams.get('code')!;
    };
    const redeem = async (fields: Record<string, string>, headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': FORM, ...headers },
        body: new URLSearchParams({ grant_type: 'authorization_code', ...fields }),
      });
      return { status: res.status, body: await res.json(), cacheControl: res.headers.get('cache-control') };
    };
    const spaFields = (code: string) => ({ code, client_id: 'spa', redirect_uri: SPA_REDIRECT, code_verifier: verifier });

    const code = await getCode();
    t.ok(code.length >= 43, 'at least 256 bits');
    const wrongVerifier = await redeem({ ...spaFields(code), code_verifier: oidc.randomPKCECodeVerifier() });
    t.same([wrongVerifier.status, wrongVerifier.body.error], [400, 'invalid_grant'], 'wrong code_verifier');
    t.equal(wrongVerifier.cacheControl, 'no-store');
    t.equal((await redeem(spaFields(code))).body.error, 'invalid_grant', 'a failed attempt burned the code');

    const { code_verifier: _omit, ...noVerifier } = spaFields(await getCode());
    t.equal((await redeem(noVerifier)).body.error, 'invalid_grant', 'missing code_verifier');
    const challengeAsVerifier = { ...spaFields(await getCode()), code_verifier: await oidc.calculatePKCECodeChallenge(verifier) };
    const plain = await redeem(challengeAsVerifier);
    t.equal(plain.body.error, 'invalid_grant', 'code_verifier equal to the code_challenge');

    t.equal((await redeem({ ...spaFields(await getCode()), client_id: 'code-only' })).body.error, 'invalid_grant', 'redeemed by another client');
    t.equal((await redeem({ ...spaFields(await getCode()), redirect_uri: 'https://spa.example.org/other' })).body.error, 'invalid_grant', 'another redirect_uri');
    const { redirect_uri: _r, ...noRedirect } = spaFields(await getCode());
    t.equal((await redeem(noRedirect)).body.error, 'invalid_request', 'redirect_uri missing');

    const good = await redeem(spaFields(await getCode()));
    t.equal(good.status, 200, 'the same steps with everything right work');
    t.equal(good.body.patient, 'pat-alice');

    const expiring = await getCode();
    await new Promise((resolve) => setTimeout(resolve, 2100));
    t.equal((await redeem(spaFields(expiring))).body.error, 'invalid_grant', 'expired code (authorization_code_ttl 1s)');

    const webCode = await getCode('web', WEB_REDIRECT, false);
    const basic = { authorization: 'Basic ' + Buffer.from(`web:${WEB_SECRET}`).toString('base64') };
    const downgrade = await redeem({ code: webCode, redirect_uri: WEB_REDIRECT, code_verifier: verifier }, basic);
    t.equal(downgrade.body.error, 'invalid_grant', 'a verifier for a code issued without a challenge (PKCE downgrade)');
    const webOk = await redeem({ code: await getCode('web', WEB_REDIRECT, false), redirect_uri: WEB_REDIRECT }, basic);
    t.equal(webOk.status, 200, 'confidential clients may skip PKCE');
  });
});
