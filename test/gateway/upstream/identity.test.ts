import t from 'tap';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { UpstreamConfig } from '../../../config/types.js';
import { parseConfig } from '../../../config/loader.js';
import { loadKeyRing } from '../../../authz/tokens/signing-keys.js';
import { issueAccessToken, verifyAccessToken } from '../../../authz/tokens/access-token.js';
import { MemoryStore } from '../../../gateway/store/memory-store.js';
import {
  AssertionCache,
  createUpstreamIdentity,
  headerValue,
  identityAssertion,
  identityHeaders,
  IDENTITY_ASSERTION_TYP,
  type IdentityClaims,
} from '../../../gateway/upstream/identity.js';
import { DEFAULT_IDENTITY_HEADER_NAMES } from '../../../config/upstream-schema.js';

const quiet = { info: () => undefined };
const keyRing = () => loadKeyRing({ store: new MemoryStore(), log: quiet });

const PRACTITIONER: IdentityClaims = { sub: 'dr-bob', client_id: 'web', scope: 'openid fhirUser user/*.rs', fhirUser: 'Practitioner/doc-bob' };
const PATIENT: IdentityClaims = { sub: 'alice', client_id: 'spa', scope: 'launch/patient patient/*.rs', fhirUser: 'Patient/pat-alice', patient: 'pat-alice' };
const BACKEND: IdentityClaims = { sub: 'backend', client_id: 'backend', scope: 'system/*.rs' };

/** The upstream section as the config loader produces it (defaults applied). */
function upstreamFrom(yaml: string): UpstreamConfig {
  return parseConfig(`server: {public_url: "https://gw.example/fhir"}\nupstream:\n  url: https://fhir.internal/fhir\n${yaml}`, 'gateway.yaml', {}).upstream;
}

t.test('identity headers: one per claim present, never an empty one', async (t) => {
  t.same(identityHeaders(PATIENT, DEFAULT_IDENTITY_HEADER_NAMES), {
    'x-forwarded-client-id': 'spa',
    'x-forwarded-user': 'alice',
    'x-forwarded-fhir-user': 'Patient/pat-alice',
    'x-forwarded-patient': 'pat-alice',
    'x-forwarded-scope': 'launch/patient patient/*.rs',
  });
  t.same(identityHeaders(PRACTITIONER, DEFAULT_IDENTITY_HEADER_NAMES), {
    'x-forwarded-client-id': 'web',
    'x-forwarded-user': 'dr-bob',
    'x-forwarded-fhir-user': 'Practitioner/doc-bob',
    'x-forwarded-scope': 'openid fhirUser user/*.rs',
  }, 'no patient claim: no patient header');
  t.same(identityHeaders({ ...BACKEND, fhirUser: '' }, DEFAULT_IDENTITY_HEADER_NAMES), {
    'x-forwarded-client-id': 'backend',
    'x-forwarded-user': 'backend',
    'x-forwarded-scope': 'system/*.rs',
  }, 'an empty claim is an absent header');
  const azure = { ...DEFAULT_IDENTITY_HEADER_NAMES, user: 'X-MS-AZUREFHIR-AUDIT-USER', client_id: 'X-MS-AZUREFHIR-AUDIT-CLIENT' };
  t.match(identityHeaders(PRACTITIONER, azure), { 'x-ms-azurefhir-audit-user': 'dr-bob', 'x-ms-azurefhir-audit-client': 'web' }, 'names overridden');
  t.same(Object.keys(identityHeaders(PATIENT, DEFAULT_IDENTITY_HEADER_NAMES, new Set(['patient', 'scope'] as const))), [
    'x-forwarded-client-id',
    'x-forwarded-user',
    'x-forwarded-fhir-user',
  ], 'omitted claims are not sent');
  t.equal(headerValue('José Müller'), 'Jos%C3%A9%20M%C3%BCller', 'non-ASCII values are percent-encoded UTF-8');
  t.equal(headerValue('evil\r\nX-Injected: 1'), 'evil%0D%0AX-Injected%3A%201', 'a line break can never start a header');
});

t.test('the assertion: signed with the gateway key ring, verifiable with its JWKS, short-lived, for the upstream only', async (t) => {
  const keys = await keyRing();
  const now = Math.floor(Date.now() / 1000);
  const assertion = await identityAssertion({ ...PATIENT, exp: now + 3600 }, keys, { issuer: 'https://gw.example/fhir', audience: 'https://fhir.internal/fhir' });
  const jwks = createLocalJWKSet(keys.jwks());
  const { payload, protectedHeader } = await jwtVerify(assertion, jwks, {
    issuer: 'https://gw.example/fhir',
    audience: 'https://fhir.internal/fhir',
    typ: IDENTITY_ASSERTION_TYP,
    algorithms: ['ES256'],
  });
  t.equal(protectedHeader.kid, keys.signing.kid);
  t.match(payload, { sub: 'alice', client_id: 'spa', scope: 'launch/patient patient/*.rs', fhirUser: 'Patient/pat-alice', patient: 'pat-alice' });
  t.type(payload.jti, 'string');
  t.ok(payload.exp! - payload.iat! <= 60, 'valid for a minute at most');

  const short = await identityAssertion({ ...BACKEND, exp: now + 10 }, keys, { issuer: 'https://gw.example/fhir', audience: 'https://fhir.internal/fhir', now });
  const shortClaims = (await jwtVerify(short, jwks)).payload;
  t.equal(shortClaims.exp, now + 10, 'never outlives the access token');
  t.notOk('patient' in shortClaims || 'fhirUser' in shortClaims, 'absent claims stay absent');

  const settings = { issuer: 'https://gw.example/fhir', audience: 'https://gw.example/fhir', ttlSeconds: 300, clockSkewSeconds: 30 };
  t.match(await verifyAccessToken(keys, settings, assertion), { ok: false }, 'it is no access token to the gateway (typ, aud)');
});

t.test('headersFor: what each setting adds', async (t) => {
  const keys = await keyRing();
  const settings = { issuer: 'https://gw.example/fhir', audience: 'https://gw.example/fhir', ttlSeconds: 300, clockSkewSeconds: 30 };
  const { token, claims } = await issueAccessToken(keys, settings, { sub: 'alice', client_id: 'spa', scope: 'patient/*.rs', patient: 'pat-alice' });
  const build = (yaml: string) => createUpstreamIdentity({ upstream: upstreamFrom(yaml), issuer: 'https://gw.example/fhir', keys: () => keys });

  t.same(await build('').headersFor(claims, token), {}, 'no identity section: nothing');
  t.same(await build('  identity: {}\n').headersFor(claims, token), {}, 'everything off by default');
  t.same(Object.keys(await build('  identity: {headers: true}\n').headersFor(claims, token)).sort(), [
    'x-forwarded-client-id',
    'x-forwarded-patient',
    'x-forwarded-scope',
    'x-forwarded-user',
  ]);
  const withAssertion = await build('  identity: {assertion: true, assertion_header: X-Gateway-Assertion}\n').headersFor(claims, token);
  t.same(Object.keys(withAssertion), ['x-gateway-assertion']);
  t.equal(decodeProtectedHeader(withAssertion['x-gateway-assertion']!).typ, IDENTITY_ASSERTION_TYP);
  t.same(await build('  identity: {forward_token: true}\n').headersFor(claims, token), { authorization: `Bearer ${token}` }, 'forward_token: the client\'s own token');
});

/**
 * The strip step, table-tested on what node really hands the gateway: raw requests with spoofed
 * headers in every spelling, sent over a socket to a node:http server that runs strip() and then
 * adds the configured identity, as the forwarders will.
 */
t.test('spoofed identity headers never get through, whatever is configured', async (t) => {
  const keys = await keyRing();
  let identity = createUpstreamIdentity({ upstream: upstreamFrom(''), issuer: 'https://gw.example/fhir', keys: () => keys });
  const forwarded: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    const headers: Record<string, unknown> = { ...req.headers };
    identity.strip(headers);
    identity
      .headersFor(PRACTITIONER, 'the-token')
      .then((added) => {
        forwarded.push({ ...headers, ...added } as IncomingHttpHeaders);
        res.end();
      })
      .catch(() => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;

  const spoofed = [
    'X-Forwarded-User: mallory',
    'x-forwarded-user: mallory2',
    'X_Forwarded_User: mallory3',
    'X-FORWARDED-FHIR-USER: Practitioner/chief',
    'x_forwarded_patient: 999',
    'X-Forwarded-Client-Id: admin-app',
    'X-Forwarded-Scope: system/*.cruds',
    'X-Forwarded-Identity-Assertion: eyJhbGciOiJub25lIn0.e30.',
    'X-MS-AZUREFHIR-AUDIT-USER: mallory',
    'x_ms_azurefhir_audit_user: mallory',
    'X-Audit-Assertion: forged',
    'X_Api_Key: stolen',
    'X-Other: kept',
  ];
  const send = () =>
    new Promise<IncomingHttpHeaders>((resolve, reject) => {
      const before = forwarded.length;
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`GET /fhir/Patient HTTP/1.1\r\nHost: gw\r\n${spoofed.join('\r\n')}\r\nConnection: close\r\n\r\n`);
      });
      socket.on('data', () => undefined);
      socket.on('error', reject);
      socket.on('close', () => (forwarded.length > before ? resolve(forwarded.at(-1)!) : reject(new Error('no request reached the server'))));
    });
  const spoofedNames = (headers: IncomingHttpHeaders) => Object.keys(headers).filter((name) => /forwarded|azurefhir|assertion|api.key/i.test(name));

  // Names this config does not know are ordinary headers (the gateway cannot guess every
  // upstream's names); the default names, the configured ones and the credential header never pass.
  const unknownToDefaults = { 'x-ms-azurefhir-audit-user': 'mallory', x_ms_azurefhir_audit_user: 'mallory', 'x-audit-assertion': 'forged', x_api_key: 'stolen' };
  const cases: [string, string, Record<string, string>][] = [
    ['identity off', '', unknownToDefaults],
    ['headers on, default names', '  identity: {headers: true}\n', {
      ...unknownToDefaults,
      'x-forwarded-client-id': 'web',
      'x-forwarded-user': 'dr-bob',
      'x-forwarded-fhir-user': 'Practitioner/doc-bob',
      'x-forwarded-scope': 'openid fhirUser user/*.rs',
    }],
    ['headers on, Azure names, custom assertion header', '  identity:\n    headers: true\n    header_names: {user: X-MS-AZUREFHIR-AUDIT-USER}\n    assertion_header: X-Audit-Assertion\n', {
      x_api_key: 'stolen',
      'x-forwarded-client-id': 'web',
      'x-ms-azurefhir-audit-user': 'dr-bob',
      'x-forwarded-fhir-user': 'Practitioner/doc-bob',
      'x-forwarded-scope': 'openid fhirUser user/*.rs',
    }],
    ['headers on, patient omitted', '  identity: {headers: true, omit_headers: [patient, fhir_user]}\n', {
      ...unknownToDefaults,
      'x-forwarded-client-id': 'web',
      'x-forwarded-user': 'dr-bob',
      'x-forwarded-scope': 'openid fhirUser user/*.rs',
    }],
    ['identity off, credential header', '  auth: {type: header, header: {name: X-Api-Key, value: real}}\n', {
      'x-ms-azurefhir-audit-user': 'mallory',
      x_ms_azurefhir_audit_user: 'mallory',
      'x-audit-assertion': 'forged',
    }],
  ];
  for (const [name, yaml, expected] of cases) {
    identity = createUpstreamIdentity({ upstream: upstreamFrom(yaml), issuer: 'https://gw.example/fhir', keys: () => keys });
    const headers = await send();
    const identityPart = Object.fromEntries(spoofedNames(headers).map((header) => [header, headers[header]]));
    t.same(identityPart, expected, `${name}: the configured identity headers with the gateway's values; no spoofed one`);
    t.equal(headers['x-other'], 'kept', `${name}: unrelated headers pass`);
  }

  // Configured names are protected even when their feature is off; default names always are.
  identity = createUpstreamIdentity({
    upstream: upstreamFrom('  identity: {headers: false, header_names: {user: X-MS-AZUREFHIR-AUDIT-USER}, assertion_header: X-Audit-Assertion}\n'),
    issuer: 'https://gw.example/fhir',
    keys: () => keys,
  });
  const off = await send();
  t.same(spoofedNames(off).filter((name) => name !== 'x_api_key'), [], 'identity configured but off: every identity spelling removed');
});

t.test('the assertion cache: one signing per token while the assertion has half its minute left', async (t) => {
  const cache = new AssertionCache(2);
  let signings = 0;
  const sign = (exp: number) => async () => {
    signings++;
    return { assertion: `assertion-${signings}`, exp };
  };
  const shared = await Promise.all([cache.get('token-a', 1000, sign(1060)), cache.get('token-a', 1000, sign(1060))]);
  t.same(shared, ['assertion-1', 'assertion-1'], 'concurrent requests of one token share one signing');
  t.equal(await cache.get('token-a', 1030, sign(1090)), 'assertion-1', 'reused while 30 s of it are left');
  t.equal(await cache.get('token-a', 1031, sign(1091)), 'assertion-2', 'then signed anew');
  t.equal(await cache.get('token-b', 1031, sign(1040)), 'assertion-3');
  t.equal(await cache.get('token-b', 1031, sign(1040)), 'assertion-4', 'an assertion cut short by its access token is not reused once under 30 s');

  await t.rejects(cache.get('token-c', 1031, async () => Promise.reject(new Error('keys not loaded'))));
  t.equal(await cache.get('token-c', 1031, sign(1091)), 'assertion-5', 'a failed signing is not remembered');
  t.equal(await cache.get('token-d', 1031, sign(1091)), 'assertion-6');
  t.equal(await cache.get('token-b', 1031, sign(1091)), 'assertion-7', 'bounded: the oldest token was forgotten');
});

t.test('headersFor: the assertion of one access token is shared by its requests', async (t) => {
  const keys = await keyRing();
  const settings = { issuer: 'https://gw.example/fhir', audience: 'https://gw.example/fhir', ttlSeconds: 300, clockSkewSeconds: 30 };
  const alice = await issueAccessToken(keys, settings, { sub: 'alice', client_id: 'spa', scope: 'patient/*.rs', patient: 'pat-alice' });
  const bob = await issueAccessToken(keys, settings, { sub: 'bob', client_id: 'spa', scope: 'patient/*.rs', patient: 'pat-bob' });
  let now = 1_000_000;
  const identity = createUpstreamIdentity({ upstream: upstreamFrom('  identity: {assertion: true}\n'), issuer: 'https://gw.example/fhir', keys: () => keys, now: () => now });
  const of = async (issued: typeof alice) => (await identity.headersFor({ ...issued.claims, exp: now + 300 }, issued.token))['x-forwarded-identity-assertion']!;
  const first = await of(alice);
  t.equal(await of(alice), first, 'the same token: the same assertion');
  t.not(await of(bob), first, 'another token: its own');
  now += 31;
  const renewed = await of(alice);
  t.not(renewed, first, 'past half its minute: a new one');
  const jwks = createLocalJWKSet(keys.jwks());
  const { payload } = await jwtVerify(renewed, jwks, { audience: 'https://fhir.internal/fhir', currentDate: new Date(now * 1000) });
  t.equal(payload.iat, now, 'signed at the time it was asked for');
});
