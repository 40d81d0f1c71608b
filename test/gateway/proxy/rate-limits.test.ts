import t from 'tap';
import { BACKEND_SECRET, startStack } from '../../support/stack.js';
import { clientToken, metricValue, pooled, tokenRequest } from '../../support/ops-helpers.js';

/** Issue #4.1: rate limits on proxied requests (per client) and on the token endpoint (per IP), in Redis. */

t.test('per-client limit on proxied requests: 429 throttled with headers; another client is unaffected', async (t) => {
  const stack = await startStack(t, {
    store: 'redis',
    // 1/hour: no refill during the test, so exactly burst + 1 = 4 requests pass at once.
    edit: (raw) => {
      raw.rate_limits = { per_client: { rate: '1/hour', burst: 3 } };
      raw.clients.push({ client_id: 'other-app', client_secret: BACKEND_SECRET, scope: 'system/Patient.rs' });
    },
  });
  const base = stack.gateway.url;
  await stack.upstream.seed([{ resourceType: 'Patient', id: 'rl1' }] as never);
  const limited = await clientToken(base, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const other = await clientToken(base, 'other-app', BACKEND_SECRET, 'system/Patient.rs');

  const statuses: number[] = [];
  let refused: Response | undefined;
  for (let i = 0; i < 7; i++) {
    const res = await fetch(`${base}/Patient/rl1`, { headers: { authorization: `Bearer ${limited}` } });
    statuses.push(res.status);
    if (res.status === 200) {
      t.equal(res.headers.get('ratelimit-limit'), '4', 'RateLimit-Limit = limit + burst');
      t.equal(res.headers.get('ratelimit-remaining'), String(3 - i), `RateLimit-Remaining counts down (request ${i + 1})`);
      await res.arrayBuffer();
    } else if (!refused) {
      refused = res;
    } else {
      await res.arrayBuffer();
    }
  }
  t.same(statuses, [200, 200, 200, 200, 429, 429, 429]);
  t.ok(refused, 'a request was refused');
  const retryAfter = Number(refused!.headers.get('retry-after'));
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 3600, `Retry-After is whole seconds (${retryAfter})`);
  t.equal(refused!.headers.get('ratelimit-limit'), '4');
  t.equal(refused!.headers.get('ratelimit-remaining'), '0');
  t.ok(Number(refused!.headers.get('ratelimit-reset')) > 0, 'RateLimit-Reset in seconds');
  const outcome = (await refused!.json()) as { resourceType: string; issue: { code: string }[] };
  t.equal(outcome.resourceType, 'OperationOutcome');
  t.equal(outcome.issue[0]!.code, 'throttled');

  stack.takeReceived();
  const res = await fetch(`${base}/Patient/rl1`, { headers: { authorization: `Bearer ${other}` } });
  t.equal(res.status, 200, 'another client still gets through');
  await res.arrayBuffer();
  t.equal(stack.takeReceived().length, 1, 'only the other client reached the upstream');

  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.equal(metricValue(metrics, 'fhirgw_rate_limit_rejections_total', { limit: 'per_client' }), 3, 'rejections counted');
});

t.test('per-IP limit on the token endpoint: of 1,000 requests exactly limit + burst succeed', async (t) => {
  const stack = await startStack(t, {
    store: 'redis',
    // limit 1/hour + burst 49 = 50 in any hour, all of them available at once.
    edit: (raw) => (raw.rate_limits = { per_ip_token: { rate: '1/hour', burst: 49 } }),
  });
  const base = stack.gateway.url;
  const results = await pooled(1000, 25, async () => {
    const res = await tokenRequest(base, 'backend', BACKEND_SECRET, 'system/Patient.rs');
    return { status: res.status, retryAfter: res.headers.get('retry-after'), type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
  });
  const ok = results.filter((r) => r.status === 200);
  const limited = results.filter((r) => r.status === 429);
  t.equal(ok.length, 50, 'exactly limit + burst tokens issued');
  t.same(results.filter((r) => r.status !== 200 && r.status !== 429).map((r) => [r.status, r.body]), [], 'nothing but 200 and 429');
  t.equal(limited.length, 950, 'every other request refused with 429');
  t.ok(ok.every((r) => typeof r.body.access_token === 'string'), 'the successes carry tokens');
  t.ok(
    limited.every((r) => typeof r.body.error === 'string' && typeof r.body.error_description === 'string' && /json/.test(r.type ?? '')),
    'refusals are OAuth JSON errors',
  );
  t.ok(limited.every((r) => Number(r.retryAfter) >= 1), 'refusals carry Retry-After');
  t.notOk(limited.some((r) => 'access_token' in r.body), 'no refusal carries a token');

  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.equal(metricValue(metrics, 'fhirgw_rate_limit_rejections_total', { limit: 'per_ip_token' }), 950);
  t.equal(metricValue(metrics, 'fhirgw_tokens_issued_total', { grant_type: 'client_credentials' }), 50);
});
