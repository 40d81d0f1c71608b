import t, { type Test } from 'tap';
import { createCsrfToken, CSRF_TOKEN_TTL_SECONDS, verifyCsrfToken } from '../../../authz/oauth/pages/csrf.js';
import { renderConsentPage, type ConsentPageOptions } from '../../../authz/oauth/pages/consent-page.js';
import { renderErrorPage } from '../../../authz/oauth/pages/error-page.js';
import { escapeHtml, html, SafeHtml, securityHeaders } from '../../../authz/oauth/pages/layout.js';
import { OAUTH_PATHS } from '../../../authz/oauth/paths.js';
import { renderLoginPage, type LoginPageOptions } from '../../../authz/oauth/pages/login-page.js';
import { describeScope, describeScopes } from '../../../authz/oauth/pages/scope-descriptions.js';
import { renderPatientPickerPage, type PatientPickerPageOptions } from '../../../authz/oauth/pages/patient-picker-page.js';
import { renderAccountPage, type AccountPageOptions } from '../../../authz/oauth/pages/account-page.js';
import { renderMessagePage } from '../../../authz/oauth/pages/message-page.js';
import { PAGE_STYLES } from '../../../authz/oauth/pages/styles.js';

const HOSTILE = `<script>alert(1)</script>"'&`;
const HOSTILE_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;';

const loginOptions: LoginPageOptions = {
  clientName: 'Growth Chart',
  csrfToken: 'csrf-token-value',
  interactionId: 'interaction-123',
  actionUrl: '/oauth/login',
};

const consentOptions: ConsentPageOptions = {
  clientName: 'Growth Chart',
  scopes: ['openid', 'fhirUser', 'launch/patient', 'patient/Observation.rs', 'offline_access'],
  user: { username: 'alice', fhirUser: 'Practitioner/abc', patient: 'pat-1' },
  csrfToken: 'csrf-token-value',
  interactionId: 'interaction-123',
  actionUrl: '/oauth/consent',
};

/** Checks every page must pass, whatever its content. */
function assertSafePage(t: Test, page: string): void {
  t.match(page, /^<!doctype html>/, 'is an HTML document');
  // Attribute values are escaped, so no raw quote can occur inside one: blanking them leaves
  // only markup, in which an attribute name like onfocus= or style= would be real.
  const markup = page.replace(/"[^"]*"/g, '""');
  t.notMatch(markup, /<script/i, 'no script element');
  t.notMatch(markup, /\sstyle\s*=/i, 'no inline style attribute');
  t.notMatch(markup, /<style/i, 'no style element');
  t.notMatch(markup, /\son[a-z]+\s*=/i, 'no event handler attribute');
  t.match(page, `<link rel="stylesheet" href="${OAUTH_PATHS.stylesheet}">`, 'links the one stylesheet');
  t.match(page, '<meta name="viewport" content="width=device-width, initial-scale=1">', 'responsive viewport');
  t.match(page, '<html lang="en">');
}

t.test('escapeHtml', async (t) => {
  t.equal(escapeHtml(HOSTILE), HOSTILE_ESCAPED);
  t.equal(escapeHtml('a`b'), 'a&#96;b');
  t.equal(escapeHtml(42), '42');
  t.equal(escapeHtml(undefined), '');
  t.equal(escapeHtml(null), '');
  t.equal(escapeHtml('plain text'), 'plain text');
  t.equal(escapeHtml('&amp;'), '&amp;amp;', 'escapes already-escaped text again rather than trusting it');
});

t.test('html template tag escapes values but not SafeHtml', async (t) => {
  const inner = html`<b>${HOSTILE}</b>`;
  t.type(inner, SafeHtml);
  t.equal(inner.value, `<b>${HOSTILE_ESCAPED}</b>`);
  t.equal(html`<p>${inner}</p>`.value, `<p><b>${HOSTILE_ESCAPED}</b></p>`);
  t.equal(html`${['<a>', html`<i>`]}`.value, '&lt;a&gt;<i>', 'arrays: strings escaped, SafeHtml kept');
  t.equal(html`[${undefined}${null}${false}${0}]`.value, '[0]');
});

t.test('login page', async (t) => {
  const page = renderLoginPage(loginOptions);
  assertSafePage(t, page);
  t.match(page, '<form class="form" method="post" action="/oauth/login"');
  t.match(page, /<input class="input" id="username" name="username" type="text"/);
  t.match(page, /<input class="input" id="password" name="password" type="password" autocomplete="current-password" required/);
  t.match(page, '<label class="label" for="username">Username</label>');
  t.match(page, '<label class="label" for="password">Password</label>');
  t.match(page, '<input type="hidden" name="csrf" value="csrf-token-value">');
  t.match(page, '<input type="hidden" name="interaction" value="interaction-123">');
  t.match(page, /<button class="[^"]*" type="submit">Sign in<\/button>/);
  t.match(page, 'Growth Chart');
  t.match(page, 'FHIR Gateway', 'default gateway name');
  t.notMatch(page, 'role="alert"', 'no error area without an error');
  t.match(page, /id="username"[^>]* autofocus>/, 'username focused on first visit');
});

t.test('login page with an error keeps the username and announces the error', async (t) => {
  const page = renderLoginPage({ ...loginOptions, error: 'Wrong username or password.', username: 'alice' });
  assertSafePage(t, page);
  t.match(page, '<div class="alert" id="form-error" role="alert">Wrong username or password.</div>');
  t.match(page, /name="username"[^>]*value="alice"/);
  t.match(page, /id="password"[^>]*aria-invalid="true" aria-describedby="form-error" autofocus>/);
  t.notMatch(page, /id="username"[^>]*autofocus/, 'focus moves to the password');
  t.notMatch(page, /name="password"[^>]*value=/, 'password never echoed');
});

t.test('login page escapes every interpolated value', async (t) => {
  const page = renderLoginPage({
    clientName: HOSTILE,
    csrfToken: `"><script>x</script>`,
    interactionId: `" autofocus onfocus="alert(1)`,
    actionUrl: `/oauth/login?a="b"`,
    error: HOSTILE,
    username: `"><img src=x onerror=alert(1)>`,
    gatewayName: HOSTILE,
  });
  assertSafePage(t, page);
  t.notMatch(page, HOSTILE);
  t.match(page, HOSTILE_ESCAPED);
  t.match(page, 'value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
  t.match(page, 'value="&quot; autofocus onfocus=&quot;alert(1)"');
  t.match(page, 'action="/oauth/login?a=&quot;b&quot;"');
  t.match(page, 'value="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"');
  t.notMatch(page, '<img');
});

const providerLogin: LoginPageOptions = {
  ...loginOptions,
  providers: [
    { id: 'hospital-sso', name: 'Hospital SSO' },
    { id: 'entra', name: 'Microsoft Entra ID' },
  ],
  providerActionUrl: '/oauth/authorize/federated',
};

t.test('login page with identity providers: one button each, above the local form', async (t) => {
  const page = renderLoginPage(providerLogin);
  assertSafePage(t, page);
  t.match(page, '<form class="form providers" method="post" action="/oauth/authorize/federated">');
  t.match(page, '<button class="button button-provider button-block" type="submit" name="provider" value="hospital-sso">Sign in with Hospital SSO</button>');
  t.match(page, 'value="entra">Sign in with Microsoft Entra ID</button>');
  t.equal(page.match(/name="csrf"/g)?.length, 2, 'both forms carry the CSRF token');
  t.ok(page.indexOf('button-provider') < page.indexOf('name="username"'), 'the buttons come first');
  t.match(page, '<p class="divider"><span>or sign in with a username</span></p>');
  t.notMatch(page, /autofocus/, 'no field is singled out when both ways are offered');

  const only = renderLoginPage({ ...providerLogin, localForm: false });
  assertSafePage(t, only);
  t.notMatch(only, 'name="username"', 'no users configured: no local form');
  t.notMatch(only, 'divider');
  t.match(only, /value="hospital-sso" autofocus>/, 'the first button has focus');

  const failed = renderLoginPage({ ...providerLogin, error: 'Wrong username or password.', username: 'bob' });
  t.match(failed, /id="password"[^>]*autofocus>/, 'after a failed password the password has focus');

  const nothing = renderLoginPage({ ...loginOptions, localForm: false });
  t.notMatch(nothing, '<form');
  t.match(nothing, 'No way to sign in is set up on this server.');

  const hostile = renderLoginPage({ ...providerLogin, providers: [{ id: `x" onclick="alert(1)`, name: HOSTILE }] });
  assertSafePage(t, hostile);
  t.match(hostile, `value="x&quot; onclick=&quot;alert(1)">Sign in with ${HOSTILE_ESCAPED}</button>`);
});

t.test('consent page: remember checkbox, unticked, labelled; the account page linked', async (t) => {
  const page = renderConsentPage({ ...consentOptions, accountUrl: 'https://gw.example/oauth/account' });
  assertSafePage(t, page);
  t.match(page, '<input class="check-input" id="remember" name="remember" type="checkbox" value="on">');
  t.notMatch(page, /checked/);
  t.match(page, /<label class="check-label" for="remember">Remember my decision: next time <strong>Growth Chart<\/strong> asks for the same or less/);
  t.ok(page.indexOf('id="remember"') < page.indexOf('value="allow"'), 'inside the form, before the buttons');
  t.match(page, '<a class="link" href="https://gw.example/oauth/account">your account page</a>');
});

const pickerOptions: PatientPickerPageOptions = {
  clientName: 'Growth Chart',
  csrfToken: 'csrf-token-value',
  interactionId: 'interaction-123',
  actionUrl: '/oauth/authorize/patient',
};

t.test('patient picker page', async (t) => {
  const empty = renderPatientPickerPage(pickerOptions);
  assertSafePage(t, empty);
  t.match(empty, '<h1 class="title">Choose a patient</h1>');
  t.match(empty, '<form class="form" method="post" action="/oauth/authorize/patient" role="search" aria-label="Find a patient">');
  t.match(empty, '<input type="hidden" name="action" value="search">');
  for (const [id, label] of [['name', 'Name'], ['birthdate', 'Birth date'], ['identifier', 'Identifier']] as const) {
    t.match(empty, `<label class="label" for="${id}">${label}`, `${id} is labelled`);
    t.match(empty, `id="${id}" name="${id}"`);
  }
  t.match(empty, 'type="date"', 'a date field for the birth date');
  t.match(empty, /id="name"[^>]*autofocus>/);
  t.notMatch(empty, 'type="radio"', 'no results before a search');

  const results = renderPatientPickerPage({
    ...pickerOptions,
    query: { name: 'Okafor' },
    results: {
      patients: [
        { id: 'pat-bob', name: 'Bob Okafor', birthDate: '1979-11-02', gender: 'male', identifier: 'MRN-1002' },
        { id: 'pat-b2', name: 'Bea Okafor' },
      ],
      more: true,
    },
  });
  assertSafePage(t, results);
  t.match(results, /id="name" name="name" type="text" value="Okafor"/, 'the search is kept');
  t.match(results, '<legend class="label">2 patients found (only the first ones are shown: narrow the search)</legend>');
  t.match(results, '<input class="patient-input" id="patient-0" name="patient" type="radio" value="pat-bob" required autofocus>');
  t.match(results, '<label class="patient-label" for="patient-0"><span class="patient-name">Bob Okafor</span><span class="patient-detail">born 1979-11-02 · male · identifier MRN-1002 · id pat-bob</span></label>');
  t.match(results, 'value="pat-b2" required>');
  t.match(results, '<button class="button button-primary button-block" type="submit">Continue with this patient</button>');
  t.equal(results.match(/name="csrf"/g)?.length, 2, 'both forms carry the CSRF token');

  const none = renderPatientPickerPage({ ...pickerOptions, results: { patients: [], more: false }, error: 'nope' });
  t.match(none, 'No patient found.');
  t.match(none, '<div class="alert" id="picker-error" role="alert">nope</div>');

  const hostile = renderPatientPickerPage({
    ...pickerOptions,
    clientName: HOSTILE,
    query: { name: HOSTILE, identifier: `"><script>` },
    results: { patients: [{ id: `x"><img src=x>`, name: HOSTILE, gender: HOSTILE }], more: false },
    error: HOSTILE,
  });
  assertSafePage(t, hostile);
  t.notMatch(hostile, HOSTILE);
  t.match(hostile, 'value="x&quot;&gt;&lt;img src=x&gt;"');
  t.notMatch(hostile, '<img');
});

const accountOptions: AccountPageOptions = {
  person: 'Dr Kim Lee',
  fhirUser: 'Practitioner/E-1001',
  csrfToken: 'csrf-token-value',
  withdrawUrl: '/oauth/account/withdraw',
  logoutUrl: '/oauth/logout',
  apps: [
    {
      clientId: 'chart',
      name: 'Chart',
      remembered: { scope: 'openid patient/*.rs', grantedAt: Date.UTC(2030, 0, 2) / 1000 },
      refreshTokens: [{ scope: 'openid patient/*.rs offline_access', createdAt: Date.UTC(2030, 0, 2) / 1000, exp: Date.UTC(2030, 1, 1) / 1000 }],
    },
    { clientId: 'gone-app', name: 'gone-app', refreshTokens: [{ scope: 'user/*.rs offline_access', createdAt: Date.UTC(2030, 0, 3) / 1000, exp: Date.UTC(2030, 1, 2) / 1000 }] },
  ],
};

t.test('account page', async (t) => {
  const page = renderAccountPage(accountOptions);
  assertSafePage(t, page);
  t.match(page, '<h1 class="title">Your app access</h1>');
  t.match(page, 'Signed in as <strong class="app-name">Dr Kim Lee</strong> (Practitioner/E-1001)');
  t.match(page, '<li class="app" aria-labelledby="app-0">\n<h2 class="app-title" id="app-0">Chart</h2>');
  t.match(page, 'Allowed without asking since 2030-01-02:');
  t.match(page, '<span class="scope-text">Read and search your health records (all types)</span>');
  t.match(page, '<li>since 2030-01-02, until 2030-02-01 at the latest: <code class="scope-code">openid patient/*.rs offline_access</code></li>');
  t.match(page, 'Asks you each time.', 'an app with refresh tokens but nothing remembered');
  t.equal(page.match(/<form class="form" method="post" action="\/oauth\/account\/withdraw">/g)?.length, 2, 'one withdraw form per app');
  t.match(page, '<input type="hidden" name="client_id" value="chart">');
  t.match(page, '<button class="button button-danger" type="submit">Withdraw Chart’s access</button>');
  t.match(page, '<a class="button button-secondary" href="/oauth/logout">Sign out</a>');

  const empty = renderAccountPage({ ...accountOptions, apps: [], notice: 'Access withdrawn. The app must ask you again.' });
  assertSafePage(t, empty);
  t.match(empty, '<div class="notice" role="status">Access withdrawn. The app must ask you again.</div>');
  t.match(empty, 'No app holds access you granted');
  t.notMatch(empty, '<form');

  const hostile = renderAccountPage({ ...accountOptions, person: HOSTILE, apps: [{ clientId: `"><x`, name: HOSTILE, refreshTokens: [] }] });
  assertSafePage(t, hostile);
  t.notMatch(hostile, HOSTILE);
  t.match(hostile, 'id="app-0"', 'ids by position, whatever the client id');
});

t.test('message page', async (t) => {
  const page = renderMessagePage({ title: 'Continue to Hospital SSO', message: HOSTILE, link: { href: 'https://sso.example.org/auth?a=1&b=2', label: 'Continue' } });
  assertSafePage(t, page);
  t.match(page, `<p class="message">${HOSTILE_ESCAPED}</p>`);
  t.match(page, '<a class="button button-primary" href="https://sso.example.org/auth?a=1&amp;b=2">Continue</a>');
  t.notMatch(renderMessagePage({ title: 't', message: 'm' }), '<a ');
});

t.test('consent page', async (t) => {
  const page = renderConsentPage(consentOptions);
  assertSafePage(t, page);
  t.match(page, '<form class="form" method="post" action="/oauth/consent">');
  t.match(page, '<input type="hidden" name="csrf" value="csrf-token-value">');
  t.match(page, '<input type="hidden" name="interaction" value="interaction-123">');
  t.match(page, '<button class="button button-primary" type="submit" name="decision" value="allow">Allow</button>');
  t.match(page, '<button class="button button-secondary" type="submit" name="decision" value="deny">Deny</button>');
  t.match(page, '<span class="scope-text">Know who you are</span>');
  t.match(page, '<code class="scope-code">openid fhirUser</code>', 'identity scopes shown as one line');
  t.match(page, 'Know which patient record is open');
  t.match(page, 'Read and search your observations (lab results, vital signs…)');
  t.match(page, 'Stay signed in when you are not using the app');
  t.match(page, '<dt>Signed in as</dt><dd>alice</dd>');
  t.match(page, '<dd>Practitioner/abc</dd>');
  t.match(page, '<dd>pat-1</dd>');
  t.equal(page.match(/<li class="scope">/g)?.length, 4);
});

t.test('consent page without optional user details', async (t) => {
  const page = renderConsentPage({ ...consentOptions, user: { username: 'bob' } });
  t.match(page, '<dd>bob</dd>');
  t.notMatch(page, 'Patient record');
  t.notMatch(page, '<dt>Profile</dt>');
});

t.test('consent page escapes every interpolated value', async (t) => {
  const page = renderConsentPage({
    ...consentOptions,
    clientName: HOSTILE,
    scopes: [HOSTILE, 'patient/Observation.rs?code=<b>'],
    user: { username: HOSTILE, fhirUser: HOSTILE, patient: HOSTILE },
    csrfToken: HOSTILE,
    interactionId: HOSTILE,
    actionUrl: HOSTILE,
  });
  assertSafePage(t, page);
  t.notMatch(page, HOSTILE);
  t.notMatch(page, '<b>');
  t.match(page, `<title>Allow ${HOSTILE_ESCAPED}? · FHIR Gateway</title>`);
  t.match(page, `<dd>${HOSTILE_ESCAPED}</dd>`);
  t.match(page, `action="${HOSTILE_ESCAPED}"`);
  t.match(page, 'Only where code is &lt;b&gt;');
});

t.test('error page', async (t) => {
  const page = renderErrorPage({ title: 'Unknown application', message: `The application ${HOSTILE} is not registered.` });
  assertSafePage(t, page);
  t.match(page, '<h1 class="title">Unknown application</h1>');
  t.match(page, `<p class="message">The application ${HOSTILE_ESCAPED} is not registered.</p>`);
  t.match(page, 'class="card card-error"');
  t.notMatch(page, '<form', 'nothing to submit');
});

t.test('pages accept a gateway name and stylesheet location', async (t) => {
  const page = renderErrorPage({ title: 'x', message: 'y', gatewayName: 'Acme Health', stylesheetHref: 'styles.css' });
  t.match(page, '<span class="brand-name">Acme Health</span>');
  t.match(page, '<link rel="stylesheet" href="styles.css">');
});

t.test('securityHeaders', async (t) => {
  t.same(securityHeaders(), {
    'Content-Security-Policy':
      "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  });

  const formAction = (redirectUri: string) => /form-action ([^;]*);/.exec(securityHeaders({ formTargets: [redirectUri] })['Content-Security-Policy'] ?? '')?.[1];
  t.equal(formAction('https://app.example.org/callback?x=1'), "'self' https://app.example.org", 'origin of the redirect');
  t.equal(formAction('http://127.0.0.1:51234/cb'), "'self' http://127.0.0.1:51234", 'loopback with its port');
  t.equal(formAction('com.example.app:/oauth2redirect'), "'self' com.example.app:", 'private-use scheme');
  t.equal(formAction('javascript:alert(1)'), "'self'", 'javascript: never admitted');
  t.equal(formAction('data:text/html,hi'), "'self'");
  t.equal(formAction('not a url'), "'self'");
  t.equal(formAction("https://a.example; script-src 'unsafe-inline'"), "'self'", 'cannot inject directives');

  const targets = securityHeaders({ formTargets: ['https://app.example.org/cb', 'https://sso.example.org/realms/h', 'https://app.example.org/other', 'javascript:x'] });
  t.match(targets['Content-Security-Policy'], "form-action 'self' https://app.example.org https://sso.example.org;", 'each origin once, unsafe ones dropped');
});

t.test('stylesheet covers the classes the pages use', async (t) => {
  const pages = [
    renderLoginPage({ ...loginOptions, error: 'e' }),
    renderLoginPage(providerLogin),
    renderConsentPage({ ...consentOptions, scopes: ['patient/Observation.rs?category=laboratory'] }),
    renderErrorPage({ title: 't', message: 'm' }),
    renderPatientPickerPage({ ...pickerOptions, error: 'e', results: { patients: [{ id: 'p', name: 'P' }], more: false } }),
    renderPatientPickerPage({ ...pickerOptions, results: { patients: [], more: false } }),
    renderAccountPage({ ...accountOptions, notice: 'n' }),
    renderAccountPage({ ...accountOptions, apps: [] }),
    renderMessagePage({ title: 't', message: 'm', link: { href: '/', label: 'l' } }),
  ].join('\n');
  const classes = new Set([...pages.matchAll(/class="([^"]+)"/g)].flatMap((m) => m[1]!.split(' ')));
  t.ok(classes.size > 10);
  for (const name of classes) {
    t.ok(PAGE_STYLES.includes(`.${name}`), `.${name} is styled`);
  }
  t.match(PAGE_STYLES, ':focus-visible', 'visible keyboard focus');
  t.match(PAGE_STYLES, '@media (max-width:', 'responsive');
  t.notMatch(PAGE_STYLES, /url\(|@import/, 'loads nothing else');
});

t.test('scope descriptions', async (t) => {
  const table: [string, string, string?][] = [
    ['patient/Observation.rs', 'Read and search your observations (lab results, vital signs…)'],
    ['patient/Observation.read', 'Read and search your observations (lab results, vital signs…)'],
    ['patient/Observation.write', 'Create, update and delete your observations (lab results, vital signs…)'],
    ['patient/Observation.*', 'Read, search, create, update and delete your observations (lab results, vital signs…)'],
    ['patient/Observation.cruds', 'Read, search, create, update and delete your observations (lab results, vital signs…)'],
    ['patient/Observation.c', 'Create your observations (lab results, vital signs…)'],
    ['patient/Patient.r', 'Read your personal details (name, date of birth, contact details)'],
    ['patient/*.read', 'Read and search your health records (all types)'],
    ['patient/*.rs', 'Read and search your health records (all types)'],
    ['user/Condition.rs', 'Read and search conditions you have access to (diagnoses, health problems)'],
    ['user/*.cruds', 'Read, search, create, update and delete health records you have access to (all types)'],
    ['system/Observation.rs', 'Read and search all observations (lab results, vital signs…), for any patient'],
    ['system/*.read', 'Read and search all health records (all types), for any patient'],
    ['patient/MedicationKnowledge.rs', 'Read and search your medication knowledge records'],
    [
      'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory',
      'Read and search your observations (lab results, vital signs…)',
      'Only where category is laboratory',
    ],
    [
      'patient/Condition.rs?category=problem-list-item,health-concern&clinical-status=active',
      'Read and search your conditions (diagnoses, health problems)',
      'Only where category is problem-list-item or health-concern and clinical status is active',
    ],
    ['launch/patient', 'Know which patient record is open'],
    ['launch/encounter', 'Know which visit (encounter) is open'],
    ['launch', 'Open with the record you are working on in your health record system'],
    ['offline_access', 'Stay signed in when you are not using the app'],
    ['online_access', 'Stay signed in while you are using the app'],
    ['openid', 'Know who you are'],
    ['fhirUser', 'Know who you are'],
    ['profile', 'Know who you are'],
    ['patient/Observation.sr', 'Use the permission “patient/Observation.sr”'],
    ['patient/Observation.', 'Use the permission “patient/Observation.”'],
    ['clinic/Observation.rs', 'Use the permission “clinic/Observation.rs”'],
    ['custom-scope', 'Use the permission “custom-scope”'],
  ];
  for (const [scope, text, detail] of table) {
    t.same(describeScope(scope), detail === undefined ? { text } : { text, detail }, scope);
  }
});

t.test('describeScopes merges scopes that mean the same', async (t) => {
  t.same(describeScopes(['openid', 'fhirUser', 'patient/Observation.read', 'patient/Observation.rs', 'offline_access', 'openid', '']), [
    { scopes: ['openid', 'fhirUser'], text: 'Know who you are' },
    { scopes: ['patient/Observation.read', 'patient/Observation.rs'], text: 'Read and search your observations (lab results, vital signs…)' },
    { scopes: ['offline_access'], text: 'Stay signed in when you are not using the app' },
  ]);
  t.equal(describeScopes(['patient/Observation.rs', 'patient/Observation.rs?category=laboratory']).length, 2, 'a filter makes it different');
});

t.test('csrf tokens', async (t) => {
  const key = 'k'.repeat(32);
  const now = Date.UTC(2030, 0, 1);
  const at = (ms: number) => ({ now: () => ms });
  // Issue 12 item 9: every token is also bound to the browser (its flow-binding cookie).
  const browser = 'b'.repeat(43);
  const token = createCsrfToken(key, 'interaction-1', browser, at(now));

  t.match(token, /^\d+\.[A-Za-z0-9_-]{43}$/);
  t.equal(verifyCsrfToken(key, 'interaction-1', browser, token, at(now)), true);
  t.equal(verifyCsrfToken(Buffer.from(key), 'interaction-1', browser, token, at(now)), true, 'same key as bytes');
  t.equal(verifyCsrfToken(key, 'interaction-1', browser, token, at(now + CSRF_TOKEN_TTL_SECONDS * 1000)), true, 'valid for 10 minutes');
  t.equal(verifyCsrfToken(key, 'interaction-1', browser, token, at(now + (CSRF_TOKEN_TTL_SECONDS + 1) * 1000)), false, 'expired after 10 minutes');
  t.equal(verifyCsrfToken(key, 'interaction-2', browser, token, at(now)), false, 'bound to the interaction');
  t.equal(verifyCsrfToken(key, 'interaction-1', 'c'.repeat(43), token, at(now)), false, 'bound to the browser');
  t.equal(verifyCsrfToken(key, 'interaction-1', undefined, token, at(now)), false, 'no browser binding: refused');
  t.equal(verifyCsrfToken(key, 'interaction-1', '', createCsrfToken(key, 'interaction-1', '', at(now)), at(now)), false, 'empty browser binding refused');
  t.equal(verifyCsrfToken('x'.repeat(32), 'interaction-1', browser, token, at(now)), false, 'bound to the key');
  t.equal(verifyCsrfToken(key, '', browser, createCsrfToken(key, '', browser, at(now)), at(now)), false, 'empty interaction refused');
  t.equal(verifyCsrfToken(key, 'interaction-1b', 'b'.repeat(42), createCsrfToken(key, 'interaction-1', `b${browser}`, at(now)), at(now)), false, 'id and binding cannot trade characters');

  const [issued, mac] = token.split('.');
  t.equal(verifyCsrfToken(key, 'interaction-1', browser, `${Number(issued) + 60}.${mac}`, at(now + 120_000)), false, 'timestamp cannot be moved');
  const future = createCsrfToken(key, 'interaction-1', browser, at(now + 120_000));
  t.equal(verifyCsrfToken(key, 'interaction-1', browser, future, at(now)), false, 'issued far in the future');
  t.equal(verifyCsrfToken(key, 'interaction-1', browser, createCsrfToken(key, 'interaction-1', browser, at(now + 10_000)), at(now)), true, 'small clock difference tolerated');

  for (const bad of [undefined, '', 'abc', `${issued}.`, `${issued}.${mac}x`, `${issued}.${mac}.x`, `-1.${mac}`, 42]) {
    t.equal(verifyCsrfToken(key, 'interaction-1', browser, bad, at(now)), false, `malformed ${JSON.stringify(bad)}`);
  }
  t.not(createCsrfToken(key, 'interaction-1', browser, at(now)), createCsrfToken(key, 'interaction-1', browser, at(now + 1000)), 'changes over time');
  t.throws(() => createCsrfToken('short', 'interaction-1', browser), /at least 32 bytes/, 'refuses a weak key');
});
