import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { BACKEND_SECRET, startStack } from '../../support/stack.js';
import { clientToken } from '../../support/ops-helpers.js';
import { waitFor } from '../../support/gateway-process.js';

/**
 * Issue #4.2 and #9.4: a proxied request costs at most one Redis round trip -- the EVALSHA of the
 * per-client rate-limit step -- and none without a per-client limit: revocations are answered
 * from each instance's mirror of the list (gateway/store/revocation-mirror.ts). Counted two ways
 * on a fresh redis-server:
 *  - MONITOR: every top-level command the gateway's connection sent (commands a Lua script runs
 *    internally are tagged "[0 lua]" and are not round trips, so they are counted apart);
 *  - INFO commandstats: calls of evalsha + eval (cmdstat_* also counts the script's internal
 *    EXISTS/GET/SET/TIME, so only evalsha/eval are asserted there).
 */
async function commandsOfOneRequest(t: Test, perClientLimit: boolean) {
  const stack = await startStack(t, { store: 'redis', ...(perClientLimit ? { edit: (raw) => (raw.rate_limits = { per_client: { rate: '100/s', burst: 100 } }) } : {}) });
  const base = stack.gateway.url;
  await stack.upstream.seed([{ resourceType: 'Patient', id: 'hp1' }] as never);
  const token = await clientToken(base, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const get = async () => {
    const res = await fetch(`${base}/Patient/hp1`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.status;
  };
  // Warm-up: the first call on a connection may load the script (EVALSHA -> NOSCRIPT -> EVAL).
  t.equal(await get(), 200);

  // No reconnects: these clients must not outlive the test's redis-server.
  const control = new Redis(stack.redis!.url, { lazyConnect: true, retryStrategy: () => null });
  await control.connect();
  const controlAddr = /addr=(\S+)/.exec(String(await control.call('CLIENT', 'INFO')))![1]!;
  const monitor = await control.monitor();
  monitor.on('error', () => undefined);
  const seen: { command: string; source: string }[] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== controlAddr) seen.push({ command: String(args[0]).toLowerCase(), source });
  });
  await control.call('CONFIG', 'RESETSTAT');

  t.equal(await get(), 200, 'the measured request passes');
  if (perClientLimit) await waitFor(() => seen.some((s) => s.command === 'evalsha' || s.command === 'eval'), 5_000, 'the script call shows in MONITOR');
  // Let any straggling command arrive before counting (MONITOR is asynchronous).
  await new Promise((resolve) => setTimeout(resolve, 300));
  const stats = String(await control.call('INFO', 'commandstats'));
  const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  monitor.disconnect();
  control.disconnect();
  return { topLevel: seen.filter((s) => s.source !== 'lua'), internal: seen.filter((s) => s.source === 'lua'), calls };
}

t.test('with a per-client limit: one proxied request = one EVALSHA round trip', async (t) => {
  const { topLevel, internal, calls } = await commandsOfOneRequest(t, true);
  t.same(
    topLevel.map((s) => s.command),
    ['evalsha'],
    'exactly one top-level command: EVALSHA',
  );
  t.notOk(internal.some((s) => s.command === 'exists'), 'the revocation is not looked up in Redis: the local mirror answers');
  t.ok(internal.some((s) => s.command === 'get' || s.command === 'set'), 'the rate bucket is stepped inside Redis');
  t.equal(calls('evalsha') + calls('eval'), 1, 'commandstats: one script call');
  t.equal(calls('evalsha'), 1, 'and it was EVALSHA (the script was cached)');
});

t.test('without a per-client limit: a proxied request sends Redis nothing', async (t) => {
  const { topLevel } = await commandsOfOneRequest(t, false);
  t.same(topLevel.map((s) => s.command), [], 'no command at all');
});
