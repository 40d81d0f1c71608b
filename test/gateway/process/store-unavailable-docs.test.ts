import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { freePort } from '../../support/free-port.js';
import { startGatewayProcess, waitFor } from '../../support/gateway-process.js';
import { clientToken, tokenRequest } from '../../support/ops-helpers.js';
import { startRedisServerFor } from '../../support/redis-server.js';
import { BACKEND_SECRET, baseRawConfig } from '../../support/stack.js';

/**
 * Issue 12, item 16: what docs/production.md promises about an unavailable Redis, one test per
 * promise, through the CLI-started gateway. Each test first checks that the page still makes the
 * promise it tests, so the page and the behaviour cannot drift apart unnoticed.
 */

const DOC = readFileSync(new URL('../../../docs/production.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
const promises = (t: Test, ...sentences: string[]) => {
  for (const sentence of sentences) t.ok(DOC.includes(sentence), `docs/production.md says: "${sentence}"`);
};

const logTime = (logs: Record<string, unknown>[], message: string) => {
  const line = logs.find((l) => l.msg === message);
  // pino writes ISO times (gateway/logger.ts), from the same clock as this test's Date.now().
  return typeof line?.time === 'string' ? Date.parse(line.time) : undefined;
};

t.test('at start with Redis down: waits up to 5 s, then listens and answers 503 until Redis is there', async (t) => {
  promises(t, 'it waits up to 5 seconds for Redis before it listens', 'If Redis is still unreachable then, it listens anyway');
  const redis = await startRedisServerFor(t);
  await redis.kill(); // the port is known; nothing listens on it
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  const raw = baseRawConfig(await freePort(), upstream.baseUrl, redis.url);
  raw.audit = { enabled: false };
  const gw = await startGatewayProcess(t, { config: raw });
  const answeredAt = Date.now(); // startGatewayProcess returns once /healthz answered

  t.equal((await fetch(`${gw.url}/healthz`)).status, 200, '/healthz 200');
  const ready = await fetch(`${gw.url}/readyz`);
  t.equal(ready.status, 503, '/readyz 503');
  t.match(await ready.json(), { starting: true }, '"starting": true');
  const token = await tokenRequest(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  t.same([token.status, token.headers.get('retry-after')], [503, '1'], 'the token endpoint: 503 with Retry-After: 1');
  t.match(await token.json(), { error: 'temporarily_unavailable' });
  const fhir = await fetch(`${gw.url}/Patient/x`, { headers: { authorization: 'Bearer whatever' } });
  t.same([fhir.status, fhir.headers.get('retry-after')], [503, '1'], 'a FHIR request: 503 with Retry-After: 1');
  t.match(await fhir.json(), { resourceType: 'OperationOutcome', issue: [{ code: 'transient' }] });

  await redis.restart();
  await waitFor(async () => (await fetch(`${gw.url}/readyz`)).status === 200, 20_000, 'ready once Redis is there');
  await gw.stop();

  // The log is written through a buffer flushed at exit: read it now.
  const storeChosen = logTime(gw.logs, 'using the Redis store');
  const listening = logTime(gw.logs, 'gateway listening');
  t.ok(storeChosen !== undefined && listening !== undefined, 'the start is logged');
  t.ok(listening! - storeChosen! >= 4_950, `it waited for Redis before listening (${listening! - storeChosen!} ms)`);
  t.ok(answeredAt - storeChosen! >= 4_950, `nothing answered during the wait (first answer after ${answeredAt - storeChosen!} ms)`);
  t.ok(listening! - storeChosen! < 15_000, 'and then listened anyway');
  t.equal(gw.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('store unreachable at start')).length, 1, 'one line for the unreachable store');
  t.equal(gw.logs.filter((l) => l.msg === 'gateway ready: store reachable and signing keys loaded').length, 1, 'one line when ready');
});

t.test('at start with Redis up: listens as soon as it is ready, without waiting the 5 s', async (t) => {
  promises(t, 'it waits up to 5 seconds for Redis before it listens');
  const redis = await startRedisServerFor(t);
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  const raw = baseRawConfig(await freePort(), upstream.baseUrl, redis.url);
  raw.audit = { enabled: false };
  const gw = await startGatewayProcess(t, { config: raw });
  t.equal((await fetch(`${gw.url}/readyz`)).status, 200, 'ready when it answers');
  await gw.stop();
  const storeChosen = logTime(gw.logs, 'using the Redis store')!;
  const ready = logTime(gw.logs, 'gateway ready: store reachable and signing keys loaded')!;
  const listening = logTime(gw.logs, 'gateway listening')!;
  t.ok(ready <= listening, 'ready before listening');
  t.ok(listening - storeChosen < 4_000, `listening ${listening - storeChosen} ms after start, not after the full wait`);
});

t.test('Redis lost while serving, no per_ip_token: the token endpoint answers 503 for client_credentials too', async (t) => {
  promises(t, '`client_credentials` included and whether or not `rate_limits.per_ip_token` is configured');
  const redis = await startRedisServerFor(t);
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  const raw = baseRawConfig(await freePort(), upstream.baseUrl, redis.url);
  raw.audit = { enabled: false };
  t.notOk(raw.rate_limits, 'no rate limits configured');
  const gw = await startGatewayProcess(t, { config: raw });
  await clientToken(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');

  await redis.kill();
  await waitFor(async () => (await fetch(`${gw.url}/readyz`)).status === 503, 10_000, 'the gateway noticed');
  const basic = await tokenRequest(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  t.same([basic.status, basic.headers.get('retry-after')], [503, '1'], 'client_credentials (client_secret_basic): 503, Retry-After: 1');
  t.match(await basic.json(), { error: 'temporarily_unavailable' });
  const post = await fetch(`${gw.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'backend-post', client_secret: BACKEND_SECRET }),
  });
  t.same([post.status, (await post.json()).error], [503, 'temporarily_unavailable'], 'client_credentials (client_secret_post): 503 too');

  await redis.restart();
  await waitFor(async () => (await tokenRequest(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs')).status === 200, 20_000, 'tokens again once Redis is back');
  t.pass('issues tokens again once Redis is back');
});
