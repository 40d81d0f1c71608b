import type { Test } from 'tap';
import { startFhirUpstream, type FhirUpstream, type ReceivedRequest } from '../../../gateway/demo/fhir-upstream.js';
import { callGateway, type TokenSubject, type UpstreamGateway } from '../../support/upstream-gateway.js';

/** The users, the spoofed headers and the three request paths of the identity tests. */

export const PATIENT = 'pat-a';
export const DR_BOB: TokenSubject = { sub: 'dr-bob', client_id: 'web', scope: 'openid fhirUser user/*.cruds', fhirUser: 'Practitioner/doc-bob' };
export const ALICE: TokenSubject = { sub: 'alice', client_id: 'spa', scope: 'launch/patient patient/*.cruds', fhirUser: `Patient/${PATIENT}`, patient: PATIENT };
export const BACKEND: TokenSubject = { sub: 'backend', client_id: 'backend', scope: 'system/*.rs' };

/**
 * What a client might send to pass for somebody else: every default identity name in several
 * spellings, and the names two other upstreams use (removed only where they are configured: the
 * gateway cannot know every upstream's names, see OTHER_UPSTREAMS_NAMES).
 */
export const SPOOFED: Record<string, string> = {
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
export const OTHER_UPSTREAMS_NAMES = { x_ms_azurefhir_audit_user: 'mallory', 'x-medplum-on-behalf-of': 'ProjectMembership/admin' };

/** The client's own headers pass on with its request; the gateway's own requests (the stored-resource check) carry none. */
export function clientHeadersOf(request: ReceivedRequest, names: Record<string, string>): Record<string, string> {
  return request.method === 'GET' && request.url === '/fhir/Observation/obs-a' ? {} : names;
}

/** The headers of an upstream request that carry (or pretend to carry) an identity. */
export function identityPart(headers: ReceivedRequest['headers']): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => /forwarded[-_](user|fhir[-_]user|patient|client[-_]id|scope|identity)|azurefhir|medplum/i.test(name)));
}

export async function seededUpstream(t: Test): Promise<FhirUpstream> {
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
export async function threePaths(t: Test, gateway: UpstreamGateway, upstream: FhirUpstream, subject: TokenSubject): Promise<ReceivedRequest[]> {
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
