import t, { type Test } from 'tap';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { startFhirUpstream, type FhirUpstream, type ReceivedRequest } from '../../../gateway/demo/fhir-upstream.js';
import { IDENTITY_ASSERTION_TYP } from '../../../gateway/upstream/identity.js';
import { startGuardedUpstream } from '../../support/guarded-upstream.js';
import { callGateway, startUpstreamGateway, type ForwarderKind, type TokenSubject, type UpstreamGateway } from '../../support/upstream-gateway.js';

/**
 * Issue 11, upstream.identity end to end through the compiled CLI gateway: the upstream's own
 * request log shows exactly the configured identity headers with the verified token's values,
 * on every path a request takes (streamed, inspected, the stored-resource check); spoofed
 * spellings a client sends never arrive, identity off included; the assertion verifies against
 * the gateway's JWKS; forward_token forwards the client's token; the Medplum page's
 * configuration does what it says.
 */

const PATIENT = 'pat-a';
const DR_BOB: TokenSubject = { sub: 'dr-bob', client_id: 'web', scope: 'openid fhirUser user/*.cruds', fhirUser: 'Practitioner/doc-bob' };
const ALICE: TokenSubject = { sub: 'alice', client_id: 'spa', scope: 'launch/patient patient/*.cruds', fhirUser: `Patient/${PATIENT}`, patient: PATIENT };
const BACKEND: TokenSubject = { sub: 'backend', client_id: 'backend', scope: 'system/*.rs' };

/**
 * What a client might send to pass for somebody else: every default identity name in several
 * spellings, and the names two other upstreams use (removed only where they are configured: the
 * gateway cannot know every upstream's names, see OTHER_UPSTREAMS_NAMES).
 */
const SPOOFED: Record<string, string> = {
  'X-Forwarded-User': 'mallory',
  x_forwarded_user: 'mallory2',
  'X-FORWARDED-FHIR-USER': 'Practitioner/chief',
  x_forwarded_patient: 'pat-b',
  'X-Forwarded-Client-Id': 'admin-app',
  'X_Forwarded_Scope': 'system/*.cruds',
  'X-Forwarded-Identity-Assertion': 'eyJhbGciOiJub25lIn0.e30.',
  'x-forwarded-identity_assertion': 'forged',
  X_MS_AZUREFHIR_AUDIT_USER: 'mallory',
  'X-Medplum-On-Behalf-Of': 'ProjectMembership/admin',
};
/** The two names of other upstreams, as they arrive where they are not configured. */
const OTHER_UPSTREAMS_NAMES = { x_ms_azurefhir_audit_user: 'mallory', 'x-medplum-on-behalf-of': 'ProjectMembership/admin' };

/** The client's own headers pass on with its request; the gateway's own requests (the stored-resource check) carry none. */
function clientHeadersOf(request: ReceivedRequest, names: Record<string, string>): Record<string, string> {
  return request.method === 'GET' && request.url === '/fhir/Observation/obs-a' ? {} : names;
}

/** The headers of an upstream request that carry (or pretend to carry) an identity. */
function identityPart(headers: ReceivedRequest['headers']): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => /forwarded[-_](user|fhir[-_]user|patient|client[-_]id|scope|identity)|azurefhir|medplum/i.test(name)));
}

async function seededUpstream(t: Test): Promise<FhirUpstream> {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([
    { resourceType: 'Patient', id: PATIENT },
    { resourceType: 'Observation', id: 'obs-a', status: 'final', code: { text: 'hr' }, subject: { reference: `Patient/${PATIENT}` } },
  ] as never);
  return upstream;
}

/**
 * Three requests of `subject` that take the three paths to the upstream: a streamed read, an
 * inspected search, and an update preceded by the stored-resource check. Returns what the
 * upstream received for them.
 */
async function threePaths(t: Test, gateway: UpstreamGateway, upstream: FhirUpstream, subject: TokenSubject): Promise<ReceivedRequest[]> {
  const token = await gateway.mint(subject);
  const headers = { authorization: `Bearer ${token}`, ...SPOOFED };
  const before = upstream.received.length;
  const read = await callGateway(gateway.gw.url, 'GET', `/Patient/${PATIENT}`, { headers });
  t.equal(read.status, 200, 'read');
  const search = await callGateway(gateway.gw.url, 'GET', `/Observation?subject=Patient/${PATIENT}`, { headers });
  t.equal(search.status, 200, 'search');
  const update = await callGateway(gateway.gw.url, 'PUT', '/Observation/obs-a', {
    headers,
    body: JSON.stringify({ resourceType: 'Observation', id: 'obs-a', status: 'amended', code: { text: 'hr' }, subject: { reference: `Patient/${PATIENT}` } }),
  });
  t.equal(update.status, 200, 'update');
  const received = upstream.received.slice(before);
  t.same(
    received.map((r) => `${r.method} ${r.url.split('?')[0]}`),
    subject.patient !== undefined
      ? [`GET /fhir/Patient/${PATIENT}`, 'GET /fhir/Observation', 'GET /fhir/Observation/obs-a', 'PUT /fhir/Observation/obs-a']
      : [`GET /fhir/Patient/${PATIENT}`, 'GET /fhir/Observation', 'PUT /fhir/Observation/obs-a'],
    'the paths the requests took',
  );
  return received;
}

for (const forwarder of ['http-proxy', 'undici'] as ForwarderKind[]) {
  t.test(`identity off (${forwarder}): no identity header reaches the upstream, however spelled`, async (t) => {
    const upstream = await seededUpstream(t);
    const gateway = await startUpstreamGateway(t, { upstream: { url: upstream.baseUrl }, forwarder });
    for (const received of await threePaths(t, gateway, upstream, ALICE)) {
      t.same(identityPart(received.headers), clientHeadersOf(received, OTHER_UPSTREAMS_NAMES), `${received.method} ${received.url}: no default identity name, in any spelling`);
      t.notOk(received.headers.authorization, 'and no Authorization');
    }
  });
}

t.test('headers: true: exactly the five headers, the verified token\'s values, absent claims absent', async (t) => {
  const upstream = await seededUpstream(t);
  const gateway = await startUpstreamGateway(t, { upstream: { url: upstream.baseUrl, identity: { headers: true } }, forwarder: 'undici' });
  for (const received of await threePaths(t, gateway, upstream, ALICE)) {
    t.same(
      identityPart(received.headers),
      {
        'x-forwarded-client-id': 'spa',
        'x-forwarded-user': 'alice',
        'x-forwarded-fhir-user': `Patient/${PATIENT}`,
        'x-forwarded-patient': PATIENT,
        'x-forwarded-scope': 'launch/patient patient/*.cruds',
        ...clientHeadersOf(received, OTHER_UPSTREAMS_NAMES),
      },
      `${received.method} ${received.url}: the patient's identity, nothing spoofed`,
    );
  }
  for (const received of await threePaths(t, gateway, upstream, DR_BOB)) {
    t.same(
      identityPart(received.headers),
      { 'x-forwarded-client-id': 'web', 'x-forwarded-user': 'dr-bob', 'x-forwarded-fhir-user': 'Practitioner/doc-bob', 'x-forwarded-scope': 'openid fhirUser user/*.cruds', ...clientHeadersOf(received, OTHER_UPSTREAMS_NAMES) },
      `${received.method} ${received.url}: no patient claim, no patient header`,
    );
  }
  const metadata = await callGateway(gateway.gw.url, 'GET', '/metadata', { headers: SPOOFED });
  t.equal(metadata.status, 200);
  t.same(identityPart(upstream.received.at(-1)!.headers), {}, '/metadata is nobody\'s: no identity, and it is the gateway\'s own request');
});

t.test('Azure audit names, patient omitted (docs/upstreams/azure.md): the configured names only', async (t) => {
  const upstream = await seededUpstream(t);
  const gateway = await startUpstreamGateway(t, {
    upstream: {
      url: upstream.baseUrl,
      identity: {
        headers: true,
        header_names: { client_id: 'X-MS-AZUREFHIR-AUDIT-CLIENT-ID', user: 'X-MS-AZUREFHIR-AUDIT-USER', fhir_user: 'X-MS-AZUREFHIR-AUDIT-FHIR-USER', scope: 'X-MS-AZUREFHIR-AUDIT-SCOPE' },
        omit_headers: ['patient'],
      },
    },
    forwarder: 'http-proxy',
  });
  for (const received of await threePaths(t, gateway, upstream, ALICE)) {
    t.same(
      identityPart(received.headers),
      {
        'x-ms-azurefhir-audit-client-id': 'spa',
        'x-ms-azurefhir-audit-user': 'alice',
        'x-ms-azurefhir-audit-fhir-user': `Patient/${PATIENT}`,
        'x-ms-azurefhir-audit-scope': 'launch/patient patient/*.cruds',
        ...clientHeadersOf(received, { 'x-medplum-on-behalf-of': 'ProjectMembership/admin' }),
      },
      `${received.method} ${received.url}: the Azure names, no patient id, no default name`,
    );
  }
});

t.test('assertion and forward_token: a JWT the gateway\'s JWKS verifies, and the client\'s own token', async (t) => {
  const upstream = await seededUpstream(t);
  const gateway = await startUpstreamGateway(t, { upstream: { url: upstream.baseUrl, identity: { assertion: true, forward_token: true } }, forwarder: 'http-proxy' });
  const jwks = createLocalJWKSet((await (await fetch(`${gateway.gw.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet);
  const received = await threePaths(t, gateway, upstream, ALICE);
  const jtis = new Set<unknown>();
  for (const request of received) {
    const assertion = String(request.headers['x-forwarded-identity-assertion']);
    const { payload, protectedHeader } = await jwtVerify(assertion, jwks, { issuer: gateway.gw.url, audience: upstream.baseUrl, typ: IDENTITY_ASSERTION_TYP });
    t.equal(protectedHeader.typ, IDENTITY_ASSERTION_TYP);
    t.match(payload, { sub: 'alice', client_id: 'spa', scope: 'launch/patient patient/*.cruds', fhirUser: `Patient/${PATIENT}`, patient: PATIENT }, `${request.method} ${request.url}: the verified token's claims`);
    t.ok(payload.exp! - payload.iat! <= 60, 'valid a minute at most');
    jtis.add(payload.jti);
    t.match(request.headers.authorization, /^Bearer ey/, 'forward_token: the client\'s access token');
    t.same(Object.keys(identityPart(request.headers)).sort(), ['x-forwarded-identity-assertion', ...Object.keys(clientHeadersOf(request, OTHER_UPSTREAMS_NAMES))].sort(), 'the one assertion, no spoofed one');
  }
  t.equal(jtis.size, 1, 'the requests of one token share one assertion while it is fresh');
  const other = await threePaths(t, gateway, upstream, DR_BOB);
  const bob = await jwtVerify(String(other[0]!.headers['x-forwarded-identity-assertion']), jwks, { issuer: gateway.gw.url, audience: upstream.baseUrl });
  t.equal(bob.payload.sub, 'dr-bob', 'another token, its own assertion');
  t.notOk('patient' in bob.payload, 'absent claims stay absent');
});

t.test('Medplum (docs/upstreams/medplum.md): Basic as the ClientApplication, On-Behalf-Of the user\'s profile', async (t) => {
  const basic = `Basic ${Buffer.from('client-app-id:client-app-secret').toString('base64')}`;
  const upstream = await startGuardedUpstream(t, async (headers) => headers.authorization === basic);
  await upstream.fhir.seed([{ resourceType: 'Patient', id: PATIENT }] as never);
  const gateway = await startUpstreamGateway(t, {
    upstream: {
      url: upstream.baseUrl,
      auth: { type: 'basic', basic: { username: '${MEDPLUM_CLIENT_ID}', password: '${MEDPLUM_CLIENT_SECRET}' } },
      identity: { headers: true, header_names: { fhir_user: 'X-Medplum-On-Behalf-Of' }, omit_headers: ['client_id', 'user', 'patient', 'scope'] },
    },
    env: { MEDPLUM_CLIENT_ID: 'client-app-id', MEDPLUM_CLIENT_SECRET: 'client-app-secret' },
  });
  for (const [subject, expected] of [
    [DR_BOB, { 'x-medplum-on-behalf-of': 'Practitioner/doc-bob', x_ms_azurefhir_audit_user: 'mallory' }],
    [BACKEND, { x_ms_azurefhir_audit_user: 'mallory' }],
  ] as const) {
    const token = await gateway.mint(subject);
    const answer = await callGateway(gateway.gw.url, 'GET', `/Patient/${PATIENT}`, { headers: { authorization: `Bearer ${token}`, ...SPOOFED } });
    t.equal(answer.status, 200);
    const seen = upstream.requests.at(-1)!.headers;
    t.equal(seen.authorization, basic, 'as the ClientApplication');
    t.same(identityPart(seen), expected, subject.fhirUser !== undefined ? 'on behalf of the user\'s profile' : 'a backend token runs as the ClientApplication itself');
  }
});
