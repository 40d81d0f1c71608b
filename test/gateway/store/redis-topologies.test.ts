import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createStore } from '../../../gateway/store/create-store.js';
import type { Store } from '../../../authz/store.js';
import { freePort } from '../../support/free-port.js';
import { waitFor } from '../../support/gateway-process.js';
import { startRedisServerFor } from '../../support/redis-server.js';

/** store.sentinels and store.cluster_nodes build working stores (real redis-server processes on 127.0.0.1). */

const quiet = { info() {}, warn() {} };

function spawnRedis(t: { teardown(fn: () => unknown): void }, args: string[]): ChildProcess {
  const child = spawn('/usr/bin/redis-server', args, { stdio: 'ignore' });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  );
  return child;
}

async function exercise(t: { ok(v: unknown, m: string): void; equal(a: unknown, b: unknown, m: string): void }, store: Store) {
  t.ok(await store.putOnce('c1', 'v', 60), 'putOnce');
  t.equal(await store.takeOnce('c1'), 'v', 'takeOnce');
  t.equal(await store.takeOnce('c1'), null, 'only once');
  await store.revoke('jti-1', 60);
  t.equal((await store.checkToken('jti-1', { key: 'client:a', rule: { limit: 1, periodSeconds: 3600, burst: 1 } })).revoked, true, 'checkToken sees the revocation');
  const passes = [];
  for (let i = 0; i < 3; i++) passes.push((await store.checkToken('jti-2', { key: 'client:a', rule: { limit: 1, periodSeconds: 3600, burst: 1 } })).rate?.allowed);
  t.equal(passes.join(','), 'true,true,false', 'the rate script (two keys, one slot) runs');
  t.equal(await store.setIfAbsent('k', 'first'), 'first', 'setIfAbsent');
  t.equal(await store.setIfAbsent('k', 'second'), 'first', 'keeps the first');
}

t.test('Redis Sentinel', async (t) => {
  const master = await startRedisServerFor(t);
  const dir = mkdtempSync(join(tmpdir(), 'fhirgw-sentinel-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor mymaster 127.0.0.1 ${master.port} 1\n`);
  spawnRedis(t, [conf, '--sentinel']);
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
  probe.on('error', () => undefined);
  await waitFor(
    async () => {
      try {
        if (probe.status !== 'ready') await probe.connect();
        const addr = (await probe.call('SENTINEL', 'get-master-addr-by-name', 'mymaster')) as string[] | null;
        return Array.isArray(addr) && addr[1] === String(master.port);
      } catch {
        probe.disconnect();
        return false;
      }
    },
    10_000,
    'the sentinel knows the master',
    100,
  );
  probe.disconnect();
  const store = createStore({ key_prefix: 'sent:', sentinels: [{ host: '127.0.0.1', port }], sentinel_name: 'mymaster' }, quiet);
  t.equal(store.kind, 'redis');
  await store.connect();
  t.teardown(() => store.close());
  await exercise(t, store);
  const direct = new Redis(master.url, { retryStrategy: () => null });
  t.equal(await direct.get('sent:value:k'), 'first', 'the data is on the master the sentinel named');
  direct.disconnect();
});

t.test('Redis Cluster', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fhirgw-cluster-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  spawnRedis(t, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes', '--cluster-announce-ip', '127.0.0.1', '--cluster-config-file', join(dir, 'nodes.conf'), '--save', '', '--appendonly', 'no']);
  const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
  admin.on('error', () => undefined);
  await waitFor(
    async () => {
      try {
        if (admin.status !== 'ready') await admin.connect();
        return true;
      } catch {
        admin.disconnect();
        return false;
      }
    },
    10_000,
    'the cluster node starts',
    100,
  );
  // A one-node cluster that owns every slot (announcing its address: alone, it would not know it).
  await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  await waitFor(async () => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 10_000, 'cluster_state:ok', 100);
  admin.disconnect();
  const store = createStore({ key_prefix: 'clu:', cluster_nodes: [{ host: '127.0.0.1', port }] }, quiet);
  t.equal(store.kind, 'redis');
  await store.connect();
  t.teardown(() => store.close());
  await exercise(t, store);
});
