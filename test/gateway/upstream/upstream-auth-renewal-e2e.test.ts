import t from 'tap';
import { waitFor } from '../../support/gateway-process.js';
import { metricValue } from '../../support/ops-helpers.js';
import { diagnosticsOf, startUpstreamGateway } from '../../support/upstream-gateway.js';
import { clientCredentials, PATIENT, SECRET, tokenServerAndUpstream } from './client-credentials-upstream.js';

/**
 * Issue 11, upstream.auth client_credentials over time, through the compiled CLI gateway: a token
 * renewed before it expires, and a token endpoint that refuses the gateway.
 */

t.test('tokens are renewed before they expire: no request ever meets an expired token', async (t) => {
  // 5 s tokens: usable 4 s, renewed 0.4 s before that.
  const { server, upstream } = await tokenServerAndUpstream(t, 5);
  const { call, mint } = await startUpstreamGateway(t, {
    upstream: { url: upstream.baseUrl, auth: clientCredentials(server) },
    forwarder: 'undici',
    env: { UPSTREAM_SECRET: SECRET },
  });
  const token = await mint({ sub: 'backend', client_id: 'backend', scope: 'system/*.rs' });
  const statuses: number[] = [];
  const started = Date.now();
  while (Date.now() - started < 6_000) {
    const batch = await Promise.all(Array.from({ length: 5 }, () => call(token, 'GET', `/Patient/${PATIENT}`)));
    statuses.push(...batch.map((a) => a.status));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.ok(statuses.length > 50);
  t.same(new Set(statuses), new Set([200]), 'every request passed');
  t.equal(upstream.refusals(), 0, 'the upstream never saw an expired (or any refused) token');
  t.equal(server.tokenRequests(), 2, 'one token per validity window: the first, and its renewal');
  t.equal(new Set(upstream.seen.map((h) => h.authorization)).size, 2, 'two tokens reached the upstream');
});

t.test('no token can be had: 502 saying why, /readyz 503 with the reason, a metric, nothing forwarded', async (t) => {
  const { server, upstream } = await tokenServerAndUpstream(t);
  const { gw, call, mint, metrics } = await startUpstreamGateway(t, {
    upstream: { url: upstream.baseUrl, auth: clientCredentials(server) },
    env: { UPSTREAM_SECRET: 'not-the-secret' },
  });
  const token = await mint({ sub: 'backend', client_id: 'backend', scope: 'system/*.rs' });
  const answer = await call(token, 'GET', `/Patient/${PATIENT}`);
  t.equal(answer.status, 502);
  t.equal(answer.json?.resourceType, 'OperationOutcome');
  t.match(diagnosticsOf(answer), /could not get its credentials for the FHIR server: .*refused the gateway's token request \(HTTP 401, invalid_client/);
  t.equal(answer.headers['cache-control'], 'no-store');

  await waitFor(async () => (await fetch(`${gw.url}/readyz`)).status === 503, 5_000, '/readyz 503');
  const ready = (await (await fetch(`${gw.url}/readyz`)).json()) as Record<string, unknown>;
  t.match(ready, { ready: false, store: 'ok', upstream: 'credentials', upstream_reason: /invalid_client/ }, '/readyz says why');
  t.equal(upstream.requests.length, 0, 'nothing reached the upstream');
  t.ok(metricValue(await metrics(), 'fhirgw_upstream_token_requests_total', { kind: 'client_credentials', outcome: 'error', failure: 'refused' }) >= 1, 'counted as refused');
  t.ok(server.tokenRequests() >= 1);

  await gw.stop();
  const warnings = gw.logs.filter((l) => l['msg'] === 'cannot get a token for the upstream: requests that need one are answered 502 until it works again');
  t.equal(warnings.length, 1, 'one log line when it starts failing, not one per request');
  t.notOk((gw.stdout() + gw.stderr()).includes('not-the-secret'), 'the secret is never logged');
});
