import type { Test } from 'tap';
import { startGuardedUpstream, type GuardedUpstream } from '../../support/guarded-upstream.js';
import { diagnosticsOf, startUpstreamGateway, type ForwarderKind } from '../../support/upstream-gateway.js';
import { makeTestPki, type IssuedCertificate } from '../../support/test-pki.js';

/**
 * Issue 11, upstream.tls end to end: the compiled CLI gateway in front of the Medplum FHIR
 * server behind https with a CA made in the test (openssl) that requires a client certificate
 * from that CA. The right files work, for every request the gateway makes there; a wrong CA, a missing client certificate and an expired server
 * certificate each answer 502 with the problem named, in the OperationOutcome and in the log,
 * and /readyz says it. Run once per forwarder (one test file each, so each stays short).
 */

export function upstreamTlsSuite(t: Test, forwarder: ForwarderKind): void {
  const pki = makeTestPki(t);
  const upstreamCa = pki.ca('hospital-ca');
  const otherCa = pki.ca('other-ca');
  const serverCert = upstreamCa.server('fhir-upstream', ['fhir.internal', '127.0.0.1']);
  const byNameOnly = upstreamCa.server('fhir-by-name', ['fhir.internal']);
  const expiredCert = upstreamCa.server('fhir-expired', ['fhir.internal', '127.0.0.1'], { expired: true });
  const gatewayClient = upstreamCa.client('fhir-gateway');

  async function mtlsUpstream(t: Test, cert: IssuedCertificate): Promise<GuardedUpstream> {
    const upstream = await startGuardedUpstream(t, async () => true, { tls: { cert: cert.cert, key: cert.key, ca: upstreamCa.cert } });
    await upstream.fhir.seed([{ resourceType: 'Patient', id: 'p1' }] as never);
    return upstream;
  }

  const rightFiles = { ca_file: upstreamCa.certFile, cert_file: gatewayClient.certFile, key_file: gatewayClient.keyFile };

  t.test(`the ${forwarder} forwarder: the right files work for every request to the upstream`, async (t) => {
    const upstream = await mtlsUpstream(t, serverCert);
    const { gw, call, mint } = await startUpstreamGateway(t, { upstream: { url: upstream.baseUrl, tls: rightFiles }, forwarder });
    const token = await mint({ sub: 'backend', client_id: 'backend', scope: 'system/*.rs' });
    const read = await call(token, 'GET', '/Patient/p1');
    t.equal(read.status, 200);
    t.equal(read.json.id, 'p1');
    const search = await call(token, 'GET', '/Patient?_id=p1');
    t.equal(search.status, 200, 'an inspected search (a Bundle) too');
    t.equal(search.json.resourceType, 'Bundle');
    t.equal((await call(token, 'GET', '/metadata')).status, 200, '/metadata too');
    const ready = await fetch(`${gw.url}/readyz`);
    t.equal(ready.status, 200, '/readyz probes over the same TLS');
    t.same(new Set(upstream.requests.map((r) => r.clientCertificate)), new Set(['fhir-gateway']), 'every request presented the gateway\'s client certificate');
    t.same(upstream.requests.map((r) => r.method), ['GET', 'GET', 'GET', 'HEAD']);
  });

  t.test(`the ${forwarder} forwarder: server_name checks a certificate issued for a name the URL does not hold`, async (t) => {
    const upstream = await mtlsUpstream(t, byNameOnly);
    const { call, mint } = await startUpstreamGateway(t, { upstream: { url: upstream.baseUrl, tls: { ...rightFiles, server_name: 'fhir.internal' } }, forwarder });
    const token = await mint({ sub: 'backend', client_id: 'backend', scope: 'system/*.rs' });
    const read = await call(token, 'GET', '/Patient/p1');
    t.equal(read.status, 200, 'reached by IP, verified as fhir.internal');
  });

  const failures: { name: string; cert: IssuedCertificate; tls: Record<string, string>; problem: RegExp; code: string }[] = [
    { name: 'a wrong CA', cert: serverCert, tls: { ...rightFiles, ca_file: otherCa.certFile }, problem: /certificate is not signed by a trusted CA \(unknown CA/, code: 'unknown_ca' },
    { name: 'no client certificate', cert: serverCert, tls: { ca_file: upstreamCa.certFile }, problem: /refused the gateway's client certificate \(client certificate refused/, code: 'client_certificate_refused' },
    { name: 'an expired server certificate', cert: expiredCert, tls: rightFiles, problem: /certificate has expired/, code: 'expired' },
  ];
  for (const failure of failures) {
    t.test(`the ${forwarder} forwarder: ${failure.name} is a 502 that names the problem`, async (t) => {
      const upstream = await mtlsUpstream(t, failure.cert);
      const { gw, call, mint } = await startUpstreamGateway(t, { upstream: { url: upstream.baseUrl, tls: failure.tls }, forwarder });
      const token = await mint({ sub: 'backend', client_id: 'backend', scope: 'system/*.rs' });
      for (const path of ['/Patient/p1', '/Patient?_id=p1']) {
        const answer = await call(token, 'GET', path);
        t.equal(answer.status, 502, `${path}: 502`);
        t.equal(answer.json?.resourceType, 'OperationOutcome');
        t.match(diagnosticsOf(answer), failure.problem, `${path}: the OperationOutcome names the problem`);
      }
      const metadata = await call(token, 'GET', '/metadata');
      t.equal(metadata.status, 502);
      t.match(diagnosticsOf(metadata), failure.problem, '/metadata: the same');
      const ready = await fetch(`${gw.url}/readyz`);
      t.equal(ready.status, 503);
      t.match(await ready.json(), { ready: false, upstream: 'tls', upstream_reason: failure.problem }, '/readyz says why');
      t.equal(upstream.requests.length, 0, 'no request reached the FHIR server');

      await gw.stop();
      const warnings = gw.logs.filter((l) => l['msg'] === 'refusing proxied request');
      t.ok(warnings.length >= 1 && warnings.every((l) => failure.problem.test(String(l['err']))), 'the log line names the problem');
      const requestLines = gw.logs.filter((l) => l['msg'] === 'request' && l['path'] === '/Patient/p1');
      t.match(requestLines, [{ status: 502, upstream_error: `tls ${failure.code}` }], 'and the request log says it was TLS');
    });
  }
}
