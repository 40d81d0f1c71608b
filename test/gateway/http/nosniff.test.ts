import t from 'tap';
import { docPromises } from '../../support/doc-promises.js';
import { freePort } from '../../support/free-port.js';
import { basic, clientToken } from '../../support/ops-helpers.js';
import { startScriptedUpstream } from '../../support/scripted-upstream.js';
import { BACKEND_SECRET } from '../../support/stack.js';
import { startUpstreamGateway } from '../../support/upstream-gateway.js';

/**
 * Issue 12, item 13: `X-Content-Type-Options: nosniff` on every answer of the gateway, not only
 * its HTML pages: the FHIR side (refusals, composed and proxied answers), the authorization
 * server (token, errors, discovery, JWKS, introspection, revocation), the operations endpoints,
 * on the public port and on the admin listener.
 */

const promises = docPromises('docs/production.md');

const formPost = (body: string, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  body,
});

t.test('every answer says nosniff, whichever route wrote it', async (t) => {
  promises(t, '**`X-Content-Type-Options: nosniff`** is on every answer, on the public port and the admin listener alike');
  const upstream = await startScriptedUpstream();
  t.teardown(() => upstream.close());
  // An upstream answer without the header of its own: the gateway's must be there anyway.
  upstream.script(({ url }) => (url.pathname.endsWith('/Patient/scripted') ? { status: 200, body: { resourceType: 'Patient', id: 'scripted' } } : undefined));
  const gateway = await startUpstreamGateway(t, { upstream: { url: upstream.baseUrl }, forwarder: 'undici' });
  const base = gateway.gw.url;
  const token = await clientToken(base, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const bearer = { authorization: `Bearer ${token}` };
  const backend = { authorization: basic('backend', BACKEND_SECRET) };

  const table: { name: string; path: string; init?: RequestInit; status: number }[] = [
    { name: 'FHIR refusal (no token)', path: '/Patient', status: 401 },
    { name: 'FHIR refusal (unknown type)', path: '/Nothing', init: { headers: bearer }, status: 404 },
    { name: 'FHIR answer streamed from the upstream', path: '/Patient/scripted', init: { headers: bearer }, status: 200 },
    { name: 'FHIR search, read and rewritten', path: '/Patient?name=x', init: { headers: bearer }, status: 200 },
    { name: 'FHIR CapabilityStatement', path: '/metadata', status: 200 },
    { name: 'token response', path: '/oauth/token', init: formPost('grant_type=client_credentials&scope=system%2FPatient.rs', backend), status: 200 },
    { name: 'token error', path: '/oauth/token', init: formPost('grant_type=nonsense', backend), status: 400 },
    { name: 'token error, no client', path: '/oauth/token', init: formPost('grant_type=client_credentials'), status: 400 },
    { name: 'SMART configuration', path: '/.well-known/smart-configuration', status: 200 },
    { name: 'authorization server metadata', path: '/.well-known/oauth-authorization-server', status: 200 },
    { name: 'JWKS', path: '/.well-known/jwks.json', status: 200 },
    { name: 'introspection', path: '/oauth/introspect', init: formPost(`token=${token}`, backend), status: 200 },
    { name: 'revocation error', path: '/oauth/revoke', init: formPost(`token=${token}`), status: 400 },
    { name: 'unknown OAuth path', path: '/oauth/nothing', status: 404 },
    { name: 'error page', path: '/oauth/authorize', status: 400 },
    { name: '/healthz', path: '/healthz', status: 200 },
    { name: '/readyz', path: '/readyz', status: 200 },
    { name: '/metrics', path: '/metrics', status: 200 },
  ];
  for (const row of table) {
    const res = await fetch(`${base}${row.path}`, row.init);
    await res.arrayBuffer();
    t.equal(res.status, row.status, `${row.name}: ${row.status}`);
    t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${row.name}: nosniff`);
  }
});

t.test('the admin listener says nosniff too', async (t) => {
  const upstream = await startScriptedUpstream();
  t.teardown(() => upstream.close());
  const adminPort = await freePort();
  const gateway = await startUpstreamGateway(t, { upstream: { url: upstream.baseUrl }, edit: (raw) => (raw.server.admin_port = adminPort) });
  for (const [path, status] of [['/healthz', 200], ['/readyz', 200], ['/metrics', 200], ['/nothing', 404]] as const) {
    const res = await fetch(`${gateway.gw.adminUrl}${path}`);
    await res.arrayBuffer();
    t.equal(res.status, status, `admin ${path}: ${status}`);
    t.equal(res.headers.get('x-content-type-options'), 'nosniff', `admin ${path}: nosniff`);
  }
});
