import t from 'tap';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseConfig } from '../../../config/loader.js';
import { createAuditLog } from '../../../gateway/process/audit-log.js';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { createLogger } from '../../../gateway/process/logger.js';
import { startGateway } from '../../../gateway/server.js';
import { createStore } from '../../../gateway/store/create-store.js';
import { freePort } from '../../support/free-port.js';
import { waitFor } from '../../support/gateway-process.js';
import { clientToken, metricValue } from '../../support/ops-helpers.js';
import { startRedisServerFor } from '../../support/redis-server.js';
import { BACKEND_SECRET, baseRawConfig } from '../../support/stack.js';

/** Issue #4.6: request ids, the audit log, and /metrics. */

t.test('request ids, audit lines and metrics', async (t) => {
  const redis = await startRedisServerFor(t);
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'obs1', name: [{ family: 'Secretname' }] }] as never);
  const auditFile = join(mkdtempSync(join(tmpdir(), 'fhirgw-audit-')), 'audit', 'access.log');
  const raw = baseRawConfig(await freePort(), upstream.baseUrl, redis.url);
  raw.audit = { enabled: true, destination: auditFile };
  raw.rate_limits = { per_client: { rate: '1/hour', burst: 9 } };
  const config = parseConfig(JSON.stringify(raw), 'obs.yaml', {});
  const logs: string[] = [];
  const log = createLogger(config.logging, new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) }));
  const audit = createAuditLog(auditFile);
  const gateway = await startGateway({ config, store: createStore(config.store, log), log, audit });
  t.teardown(() => gateway.close());
  const base = gateway.url;
  const scrape = async () => (await fetch(`${base}/metrics`)).text();
  const before = await scrape();
  for (const name of [
    'fhirgw_requests_total',
    'fhirgw_upstream_duration_seconds',
    'fhirgw_tokens_issued_total',
    'fhirgw_rate_limit_rejections_total',
    'fhirgw_store_errors_total',
    'fhirgw_store_duration_seconds',
  ]) {
    t.match(before, `# TYPE ${name} `, `${name} is exposed`);
  }

  const token = await clientToken(base, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const received = () => upstream.received.filter((r) => r.method !== 'HEAD');

  t.test('X-Request-Id: a sane one is kept, passed upstream and returned', async (t) => {
    const seen = received().length;
    const res = await fetch(`${base}/Patient/obs1`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'trace-abc.123:x' } });
    await res.arrayBuffer();
    t.equal(res.status, 200);
    t.equal(res.headers.get('x-request-id'), 'trace-abc.123:x', 'returned');
    t.equal(received()[seen]?.headers['x-request-id'], 'trace-abc.123:x', 'passed upstream');
  });

  t.test('X-Request-Id: an insane one is replaced by a fresh id, the same upstream and back', async (t) => {
    for (const bad of ['has spaces in it', 'x'.repeat(200), '<script>', '']) {
      const seen = received().length;
      const res = await fetch(`${base}/Patient/obs1`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': bad } });
      await res.arrayBuffer();
      const id = res.headers.get('x-request-id');
      t.match(id, /^[0-9a-f-]{36}$/, `replaced (${JSON.stringify(bad.slice(0, 20))})`);
      t.equal(received()[seen]?.headers['x-request-id'], id, 'the same id went upstream');
    }
  });

  t.test('audit: one line per decision with who/what/outcome, and no token, secret or body', async (t) => {
    const denied = await fetch(`${base}/Observation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', 'x-request-id': 'audit-deny-1' },
      body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'Bodysecret' } }),
    });
    t.equal(denied.status, 403);
    await denied.arrayBuffer();
    const bad = await fetch(`${base}/Patient/obs1`, { headers: { authorization: 'Bearer not.a.token', 'x-request-id': 'audit-bad-1' } });
    t.equal(bad.status, 401);
    await bad.arrayBuffer();
    const ok = await fetch(`${base}/Patient/obs1?name=Secretname`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'audit-ok-1' } });
    t.equal(ok.status, 200);
    await ok.arrayBuffer();

    const lines = () => (existsSync(auditFile) ? readFileSync(auditFile, 'utf8').split('\n').filter(Boolean) : []);
    await waitFor(
      () => {
        audit.flush();
        return lines().some((l) => l.includes('audit-ok-1'));
      },
      10_000,
      'audit lines reach the file',
    );
    const records = lines().map((l) => JSON.parse(l) as Record<string, any>);
    const byId = (id: string) => records.filter((r) => r.request_id === id);
    t.equal(byId('audit-ok-1').length, 1, 'exactly one line for the allowed read');
    t.equal(byId('audit-deny-1').length, 1, 'exactly one line for the denied write');
    t.equal(byId('audit-bad-1').length, 1, 'exactly one line for the bad token');
    const allowed = byId('audit-ok-1')[0]!;
    t.match(allowed, {
      client_id: 'backend',
      sub: 'backend',
      method: 'GET',
      interaction: 'read',
      resource_type: 'Patient',
      resource_id: 'obs1',
      decision: 'allow',
      upstream_status: 200,
      status: 200,
    });
    t.ok(typeof allowed.reason === 'string', 'a reason');
    t.ok(!Number.isNaN(Date.parse(allowed.time)), 'an ISO time');
    t.ok(typeof allowed.latency_ms === 'number' && allowed.latency_ms > 0, 'a latency');
    t.match(byId('audit-deny-1')[0], { decision: 'deny', status: 403, method: 'POST', interaction: 'create', resource_type: 'Observation', client_id: 'backend' });
    t.match(byId('audit-bad-1')[0], { decision: 'deny', status: 401 });
    t.notOk(byId('audit-deny-1')[0]!.upstream_status, 'no upstream status when nothing was forwarded');
    const text = lines().join('\n');
    t.notOk(text.includes(token), 'no access token');
    t.notOk(text.includes(token.split('.')[2]!), 'not even its signature');
    t.notOk(text.includes(BACKEND_SECRET), 'no client secret');
    t.notOk(text.includes('Bodysecret'), 'no request body');
    t.notOk(text.includes('Secretname'), 'no query string or response body');
    t.notOk(/authorization|bearer/i.test(text), 'no Authorization header');
  });

  t.test('metrics move', async (t) => {
    // Spend the rest of the per-client allowance (burst 9 + 1 = 10; 7 used so far) to see a rejection.
    let limited = 0;
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${base}/Patient/obs1`, { headers: { authorization: `Bearer ${token}` } });
      if (res.status === 429) limited++;
      await res.arrayBuffer();
    }
    t.ok(limited > 0, 'some requests were throttled');
    await redis.kill();
    const down = await fetch(`${base}/Patient/obs1`, { headers: { authorization: `Bearer ${token}` } });
    t.equal(down.status, 503);
    await down.arrayBuffer();

    const after = await scrape();
    t.ok(metricValue(after, 'fhirgw_requests_total', { decision: 'allow', status: '200' }) >= 7, 'allowed requests counted by decision and status');
    t.ok(metricValue(after, 'fhirgw_requests_total', { decision: 'deny', status: '403' }) >= 1, 'denials counted');
    t.ok(metricValue(after, 'fhirgw_requests_total', { decision: 'deny', status: '401' }) >= 1);
    t.equal(metricValue(after, 'fhirgw_requests_total', { decision: 'error', status: '503' }), 1, 'the store outage counted as an error');
    t.ok(metricValue(after, 'fhirgw_upstream_duration_seconds_count') >= 7, 'upstream latency observed for each forwarded request');
    t.ok(metricValue(after, 'fhirgw_upstream_duration_seconds_sum') > 0);
    t.equal(metricValue(after, 'fhirgw_tokens_issued_total', { grant_type: 'client_credentials' }), 1, 'the token issued');
    t.equal(metricValue(after, 'fhirgw_rate_limit_rejections_total', { limit: 'per_client' }), limited, 'each rejection counted');
    t.ok(metricValue(after, 'fhirgw_store_errors_total', { operation: 'checkToken' }) >= 1, 'the store error counted');
    t.ok(metricValue(after, 'fhirgw_store_duration_seconds_count', { operation: 'checkToken' }) >= 8, 'store latency observed per operation');
    t.equal(metricValue(before, 'fhirgw_store_errors_total'), 0, 'no store error before');
  });
});
