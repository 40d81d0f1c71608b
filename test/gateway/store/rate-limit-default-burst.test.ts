import t from 'tap';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { freePort } from '../../support/free-port.js';
import { startGatewayProcess } from '../../support/gateway-process.js';
import { clientToken, tokenRequest } from '../../support/ops-helpers.js';
import { startRedisServerFor } from '../../support/redis-server.js';
import { BACKEND_SECRET, baseRawConfig } from '../../support/stack.js';

/**
 * Issue 12, item 5: `N/period` admits N within any period (GCRA with burst = limit unless
 * `burst` is written); strict pacing only with `burst: 0`. Through the CLI-started gateway on
 * Redis (the Lua path every production instance takes).
 */

t.test('rate rules without burst admit N at once; burst: 0 paces strictly', async (t) => {
  const redis = await startRedisServerFor(t);
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'rl-1' }] as never);
  const start = async (rateLimits: Record<string, unknown>, prefix: string) => {
    const raw = baseRawConfig(await freePort(), upstream.baseUrl, redis.url);
    raw.store.key_prefix = prefix;
    raw.audit = { enabled: false };
    raw.rate_limits = rateLimits;
    return startGatewayProcess(t, { config: raw });
  };
  const parallelReads = async (base: string, token: string, count: number) =>
    Promise.all(
      Array.from({ length: count }, async () => {
        const res = await fetch(`${base}/Patient/rl-1`, { headers: { authorization: `Bearer ${token}` } });
        await res.arrayBuffer();
        return { status: res.status, limit: res.headers.get('ratelimit-limit'), retryAfter: res.headers.get('retry-after') };
      }),
    );

  t.test('per_client: 600/min -- a chart loading 10 resources in parallel is not throttled', async (t) => {
    const gw = await start({ per_client: '600/min' }, 'chart:');
    const token = await clientToken(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
    const results = await parallelReads(gw.url, token, 10);
    t.same(
      results.map((r) => r.status),
      Array(10).fill(200),
      'all 10 concurrent requests pass (strict pacing used to refuse all but the first)',
    );
    t.equal(results[0]!.limit, '1200', 'RateLimit-Limit: at most limit + burst = 1200 in any one minute');
  });

  t.test('per_client: 10/hour -- N at once (plus the steady one), then refused; burst: 0 paces strictly', async (t) => {
    const gw = await start({ per_client: '10/hour', per_ip_token: { rate: '1/hour', burst: 0 } }, 'paced:');
    const token = await clientToken(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
    const more = await Promise.all(Array.from({ length: 4 }, () => tokenRequest(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs')));
    t.same(
      more.map((r) => r.status),
      [429, 429, 429, 429],
      'per_ip_token with burst: 0 -- one token request per hour, the rest refused',
    );
    for (const res of more) await res.arrayBuffer();

    const burst = await parallelReads(gw.url, token, 10);
    t.same(
      burst.map((r) => r.status),
      Array(10).fill(200),
      '10/hour: 10 concurrent requests pass',
    );
    const after = [...(await parallelReads(gw.url, token, 1)), ...(await parallelReads(gw.url, token, 1))];
    t.same(
      after.map((r) => r.status),
      [200, 429],
      'burst = limit = 10 on top of the steady one: the 11th passes, the 12th is refused',
    );
    t.ok(Number(after[1]!.retryAfter) >= 300, `Retry-After says when the next one fits (one per 360 s): ${after[1]!.retryAfter}`);
    t.equal(after[1]!.limit, '20', 'RateLimit-Limit = limit + burst');
  });
});
