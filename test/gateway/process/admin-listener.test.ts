import t from 'tap';
import { createServer } from 'node:net';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { freePort } from '../../support/free-port.js';
import { docPromises } from '../../support/doc-promises.js';
import { startGatewayProcess } from '../../support/gateway-process.js';
import { clientToken, metricValue } from '../../support/ops-helpers.js';
import { BACKEND_SECRET, baseRawConfig } from '../../support/stack.js';

/** Issue 13, item 3: server.admin_port serves /metrics, /healthz and /readyz; the public port then does not. */

const OPERATIONS = ['/metrics', '/healthz', '/readyz'];

const promises = docPromises('docs/production.md');

t.test('admin_port: the operations paths on the admin listener only; on the public port they are FHIR paths', async (t) => {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'adm1' }] as never);
  const raw = baseRawConfig(await freePort(), upstream.baseUrl);
  raw.server.admin_port = await freePort();
  raw.audit = { enabled: false };
  const gw = await startGatewayProcess(t, { config: raw });
  const admin = gw.adminUrl!;
  promises(t, 'With it, they move to a listener of their own and the public port no longer knows them', 'answers those three paths (GET or HEAD; 405 otherwise) and 404 to anything else', '`admin_host` defaults to `127.0.0.1`');
  t.equal(admin, `http://127.0.0.1:${raw.server.admin_port}`, 'admin_host defaults to 127.0.0.1');

  const token = await clientToken(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const read = await fetch(`${gw.url}/Patient/adm1`, { headers: { authorization: `Bearer ${token}` } });
  t.equal(read.status, 200, 'the public port proxies FHIR as ever');
  await read.arrayBuffer();

  t.test('the admin listener answers each operations path', async (t) => {
    const healthz = await fetch(`${admin}/healthz`);
    t.equal(healthz.status, 200);
    t.same(await healthz.json(), { status: 'ok' });
    const readyz = await fetch(`${admin}/readyz`);
    t.equal(readyz.status, 200);
    t.same(await readyz.json(), { ready: true, store: 'ok', upstream: 'ok' });
    const metrics = await fetch(`${admin}/metrics`);
    t.equal(metrics.status, 200);
    t.match(metrics.headers.get('content-type'), /^text\/plain/);
    t.equal(metrics.headers.get('cache-control'), 'no-store');
    const text = await metrics.text();
    t.equal(metricValue(text, 'fhirgw_requests_total', { decision: 'allow', status: '200' }), 1, 'the proxied read is counted there');
    t.equal(metricValue(text, 'fhirgw_tokens_issued_total', { grant_type: 'client_credentials' }), 1);
  });

  t.test('the admin listener serves nothing else', async (t) => {
    for (const path of ['/', '/Patient/adm1', '/oauth/token', '/.well-known/smart-configuration', '/metadata', '/metrics/x']) {
      const res = await fetch(`${admin}${path}`, { headers: { authorization: `Bearer ${token}` } });
      t.equal(res.status, 404, `${path}: 404`);
      const body = (await res.json()) as { error: string };
      t.equal(body.error, 'not found');
    }
    const post = await fetch(`${admin}/metrics`, { method: 'POST' });
    t.equal(post.status, 405);
    t.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.arrayBuffer();
    t.equal((await fetch(`${admin}/healthz?verbose=1`)).status, 200, 'a query string does not change the path');
  });

  t.test('the public port answers the operations paths as FHIR: 401 without a token, a FHIR refusal with one, never metrics', async (t) => {
    const before = upstream.received.length;
    for (const path of OPERATIONS) {
      const anonymous = await fetch(`${gw.url}${path}`);
      t.equal(anonymous.status, 401, `${path} without a token: 401`);
      t.match(anonymous.headers.get('www-authenticate'), /^Bearer/, 'with the Bearer challenge');
      const outcome = (await anonymous.json()) as { resourceType: string };
      t.equal(outcome.resourceType, 'OperationOutcome');

      const withToken = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const text = await withToken.text();
      t.ok(withToken.status >= 400 && withToken.status < 500, `${path} with a token: ${withToken.status}, a client error`);
      t.equal((JSON.parse(text) as { resourceType: string }).resourceType, 'OperationOutcome');
      t.notMatch(text, /# TYPE|fhirgw_|"ready"|"status":"ok"/, 'nothing of the operations endpoints');
    }
    t.same(
      upstream.received.slice(before).filter((r) => OPERATIONS.some((path) => r.url.includes(path))),
      [],
      'and none of them reached the upstream',
    );
  });

  t.test('SIGTERM closes both listeners; the process exits 0', async (t) => {
    gw.kill('SIGTERM');
    t.same(await gw.exited, { code: 0, signal: null });
    await t.rejects(fetch(`${admin}/healthz`), 'the admin listener is closed');
  });
});

t.test('admin_host binds where it says; an admin port in use stops the start (exit 1) naming the key', async (t) => {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  const raw = baseRawConfig(await freePort(), upstream.baseUrl);
  raw.server.admin_port = await freePort();
  raw.server.admin_host = '127.0.0.2';
  raw.audit = { enabled: false };
  const gw = await startGatewayProcess(t, { config: raw });
  t.equal((await fetch(`http://127.0.0.2:${raw.server.admin_port}/healthz`)).status, 200, 'on 127.0.0.2');
  await t.rejects(fetch(`http://127.0.0.1:${raw.server.admin_port}/healthz`), 'not on 127.0.0.1');
  await gw.stop();

  const taken = createServer();
  const takenPort = await freePort();
  await new Promise<void>((resolve) => taken.listen(takenPort, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const busy = baseRawConfig(await freePort(), upstream.baseUrl);
  busy.server.admin_port = takenPort;
  busy.audit = { enabled: false };
  const failed = await startGatewayProcess(t, { config: busy, waitHealthy: false });
  const exit = await failed.exited;
  t.equal(exit.code, 1, 'exit 1');
  t.match(failed.stderr(), `the admin listener (server.admin_port) cannot listen on 127.0.0.1:${takenPort}`);
  t.match(failed.stderr(), 'EADDRINUSE');
});
