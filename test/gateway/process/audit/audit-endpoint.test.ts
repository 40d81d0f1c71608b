import t from 'tap';
import { parseConfig } from '../../../../config/loader.js';
import type { AuditFhirConfig, GatewayConfig } from '../../../../config/types.js';
import { createAuditEndpoint, sameBase } from '../../../../gateway/process/audit/audit-endpoint.js';

/** Which credentials and references the AuditEvent endpoint gets (audit.fhir.auth, defaulting to upstream.auth on the upstream's base). */

const UPSTREAM = 'https://fhir.internal/fhir';
const quiet = { info() {}, warn() {} };

function configWith(audit: Record<string, unknown>, upstreamAuth?: Record<string, unknown>): GatewayConfig & { audit: { fhir: AuditFhirConfig } } {
  const raw = {
    server: { public_url: 'https://gw.example.org/fhir' },
    upstream: { url: UPSTREAM, ...(upstreamAuth ? { auth: upstreamAuth } : {}) },
    audit: { fhir: audit },
  };
  return parseConfig(JSON.stringify(raw), 'gateway.yaml', {}) as GatewayConfig & { audit: { fhir: AuditFhirConfig } };
}

const UPSTREAM_KEY = { type: 'header', header: { name: 'X-Api-Key', value: 'upstream-key' } };
const AUDIT_BASIC = { type: 'basic', basic: { username: 'auditor', password: 'pw' } };

const cases: { name: string; audit: Record<string, unknown>; upstreamAuth?: Record<string, unknown>; from: string; headers: Record<string, string>; absolute: boolean }[] = [
  { name: 'the upstream’s base, no auth: the upstream’s credentials', audit: { url: UPSTREAM }, upstreamAuth: UPSTREAM_KEY, from: 'upstream.auth', headers: { 'x-api-key': 'upstream-key' }, absolute: false },
  { name: 'the same base written differently (host case, default port, trailing slash)', audit: { url: 'https://FHIR.internal:443/fhir/' }, upstreamAuth: UPSTREAM_KEY, from: 'upstream.auth', headers: { 'x-api-key': 'upstream-key' }, absolute: false },
  { name: 'another path on the upstream’s host is another base: no credentials', audit: { url: 'https://fhir.internal/audit' }, upstreamAuth: UPSTREAM_KEY, from: 'none', headers: {}, absolute: true },
  { name: 'another server, no auth: none (the upstream’s never leave for elsewhere)', audit: { url: 'https://audit.example/fhir' }, upstreamAuth: UPSTREAM_KEY, from: 'none', headers: {}, absolute: true },
  { name: 'another server with audit.fhir.auth', audit: { url: 'https://audit.example/fhir', auth: AUDIT_BASIC }, upstreamAuth: UPSTREAM_KEY, from: 'audit.fhir.auth', headers: { authorization: `Basic ${Buffer.from('auditor:pw').toString('base64')}` }, absolute: true },
  { name: 'the upstream’s base with audit.fhir.auth: audit.fhir.auth wins', audit: { url: UPSTREAM, auth: AUDIT_BASIC }, upstreamAuth: UPSTREAM_KEY, from: 'audit.fhir.auth', headers: { authorization: `Basic ${Buffer.from('auditor:pw').toString('base64')}` }, absolute: false },
  { name: 'the upstream’s base with auth type none written: none', audit: { url: UPSTREAM, auth: { type: 'none' } }, upstreamAuth: UPSTREAM_KEY, from: 'none', headers: {}, absolute: false },
  { name: 'the upstream’s base, an upstream without auth: none', audit: { url: UPSTREAM }, from: 'none', headers: {}, absolute: false },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const endpoint = createAuditEndpoint(configWith(c.audit, c.upstreamAuth), quiet);
    t.teardown(() => endpoint.close());
    t.equal(endpoint.credentialsFrom, c.from);
    t.same({ ...(await endpoint.credentials.authorize()) }, c.headers);
    t.equal(endpoint.absoluteReferences, c.absolute, c.absolute ? 'references absolute (another server)' : 'references relative (stored next to the data)');
  });
}

t.test('sameBase', async (t) => {
  t.ok(sameBase('http://a.example/fhir', 'http://a.example/fhir/'));
  t.ok(sameBase('http://A.example:80/fhir', 'http://a.example/fhir'));
  t.notOk(sameBase('https://a.example/fhir', 'http://a.example/fhir'), 'scheme');
  t.notOk(sameBase('http://a.example:8080/fhir', 'http://a.example/fhir'), 'port');
  t.notOk(sameBase('http://a.example/fhir/r4', 'http://a.example/fhir'), 'path');
});
