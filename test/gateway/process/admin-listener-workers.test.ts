import t from 'tap';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { docPromises } from '../../support/doc-promises.js';
import { freePort } from '../../support/free-port.js';
import { startGatewayProcess, waitFor } from '../../support/gateway-process.js';
import { clientToken, metricValue, statusesOnFreshConnections } from '../../support/ops-helpers.js';
import { startRedisServerFor } from '../../support/redis-server.js';
import { BACKEND_SECRET, baseRawConfig } from '../../support/stack.js';

/**
 * Issue 13, item 3, with node:cluster workers: the primary serves server.admin_port for all of
 * them (gateway/process/cluster-admin.ts), so a scrape counts every worker, not one at random.
 */

const promises = docPromises('docs/production.md');

t.test('server.workers: 2: the primary serves the admin port with every worker’s metrics summed and each worker’s readiness', async (t) => {
  const redis = await startRedisServerFor(t);
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'w1' }] as never);
  const raw = baseRawConfig(await freePort(), upstream.baseUrl, redis.url);
  raw.server.workers = 2;
  raw.server.admin_port = await freePort();
  raw.audit = { enabled: false };
  const gw = await startGatewayProcess(t, { config: raw });
  const admin = gw.adminUrl!;
  promises(t, 'With workers** the primary process serves the admin port: `/metrics` is every worker\'s registry summed', 'is 200 only when every live worker is ready');

  let readiness: { ready: boolean; workers: { worker: number; pid: number; ready: boolean; store?: string }[] } | undefined;
  await waitFor(
    async () => {
      const res = await fetch(`${admin}/readyz`);
      readiness = (await res.json()) as typeof readiness;
      return res.status === 200;
    },
    20_000,
    'both workers ready',
  );
  t.equal(readiness!.workers.length, 2, 'one report per worker');
  t.ok(readiness!.workers.every((w) => w.ready && w.store === 'ok'), 'each ready, each with its own store check');
  t.equal(new Set(readiness!.workers.map((w) => w.pid)).size, 2, 'from two processes');
  t.notOk(readiness!.workers.some((w) => w.pid === gw.child.pid), 'neither is the primary');

  const token = await clientToken(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const statuses = await statusesOnFreshConnections(gw.url, token, '/Patient/w1', 20);
  t.ok(statuses.every((s) => s === 200), 'all 20 reads succeed');

  // Were each scrape one worker's registry, the count would jump between that worker's share and the other's.
  const counts: number[] = [];
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`${admin}/metrics`, { headers: { connection: 'close' } });
    t.equal(res.status, 200);
    counts.push(metricValue(await res.text(), 'fhirgw_requests_total', { decision: 'allow', status: '200' }));
  }
  t.same(counts, Array(6).fill(20), 'every scrape counts all 20 reads, whichever worker served them');

  const publicMetrics = await fetch(`${gw.url}/metrics`, { headers: { connection: 'close' } });
  t.equal(publicMetrics.status, 401, 'the public port does not serve metrics in any worker');
  await publicMetrics.arrayBuffer();

  gw.kill('SIGTERM');
  t.same(await gw.exited, { code: 0, signal: null }, 'the primary exits 0 after its workers drained');
  t.notOk(gw.logs.some((l) => l.msg === 'metrics of the workers could not be collected'));
});
