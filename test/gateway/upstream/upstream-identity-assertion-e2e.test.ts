import t from 'tap';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { IDENTITY_ASSERTION_TYP } from '../../../gateway/upstream/identity.js';
import { startGuardedUpstream } from '../../support/guarded-upstream.js';
import { callGateway, startUpstreamGateway } from '../../support/upstream-gateway.js';
import { ALICE, BACKEND, clientHeadersOf, DR_BOB, identityPart, OTHER_UPSTREAMS_NAMES, PATIENT, seededUpstream, SPOOFED, threePaths } from './identity-requests.js';

/**
 * Issue 11, upstream.identity end to end through the compiled CLI gateway: the assertion
 * verifies against the gateway's JWKS, forward_token forwards the client's token, and the
 * Medplum page's configuration does what it says.
 */

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
