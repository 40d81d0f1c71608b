import t from 'tap';
import { callGateway, startUpstreamGateway, type ForwarderKind } from '../../support/upstream-gateway.js';
import { ALICE, clientHeadersOf, DR_BOB, identityPart, OTHER_UPSTREAMS_NAMES, PATIENT, seededUpstream, SPOOFED, threePaths } from './identity-requests.js';

/**
 * Issue 11, upstream.identity headers end to end through the compiled CLI gateway: the
 * upstream's own request log shows exactly the configured identity headers with the verified
 * token's values, on every path a request takes (streamed, inspected, the stored-resource
 * check); spoofed spellings a client sends never arrive, identity off included. (The assertion,
 * forward_token and the Medplum page: upstream-identity-assertion-e2e.test.ts.)
 */

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
