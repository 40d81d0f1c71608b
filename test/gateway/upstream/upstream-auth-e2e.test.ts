import t from 'tap';
import { metricValue } from '../../support/ops-helpers.js';
import type { GuardedUpstream } from '../../support/guarded-upstream.js';
import { diagnosticsOf, FORWARDERS, startUpstreamGateway, type GatewayAnswer } from '../../support/upstream-gateway.js';
import { clientCredentials, observation, PATIENT, SECRET, tokenServerAndUpstream } from './client-credentials-upstream.js';

/**
 * Issue 11, upstream.auth client_credentials end to end: the compiled CLI gateway in front of
 * the Medplum FHIR server behind a check that accepts only tokens of a real OAuth server
 * (oidc-provider), which counts its token requests. Both forwarders. (Renewal and a token
 * endpoint that refuses: upstream-auth-renewal-e2e.test.ts.)
 */

/** The upstream's requests since the last call. */
function takeRequests(upstream: GuardedUpstream) {
  let seen = upstream.requests.length;
  return () => {
    const out = upstream.requests.slice(seen);
    seen = upstream.requests.length;
    return out.map((r) => ({ method: r.method, url: r.url, status: r.status, authorization: r.headers.authorization }));
  };
}

for (const forwarder of FORWARDERS) {
  t.test(`client_credentials through the ${forwarder} forwarder: one token, one retry per 401, nothing passed through, nothing logged`, async (t) => {
    const { server, upstream } = await tokenServerAndUpstream(t);
    const { gw, mint, call, metrics } = await startUpstreamGateway(t, {
      upstream: { url: upstream.baseUrl, auth: clientCredentials(server) },
      forwarder,
      env: { UPSTREAM_SECRET: SECRET },
    });
    const take = takeRequests(upstream);
    const answers: GatewayAnswer[] = [];
    const remember = (answer: GatewayAnswer) => (answers.push(answer), answer);
    const system = await mint({ sub: 'backend', client_id: 'backend', scope: 'system/*.cruds' });
    const patientApp = await mint({ sub: 'alice', client_id: 'spa', scope: 'patient/Observation.cruds', patient: PATIENT });

    // One token for a burst of concurrent requests.
    const burst = await Promise.all(Array.from({ length: 30 }, () => call(system, 'GET', `/Patient/${PATIENT}`).then(remember)));
    t.same(new Set(burst.map((a) => a.status)), new Set([200]), '30 concurrent reads pass the upstream check');
    t.equal(server.tokenRequests(), 1, 'with one token request');
    const first = take();
    t.equal(first.length, 30);
    t.equal(new Set(first.map((r) => r.authorization)).size, 1, 'all with the same token');
    const token1 = first[0]!.authorization!;
    t.match(token1, /^Bearer ey/);

    // /metadata is asked with the gateway's credentials too.
    const metadata = remember(await call(system, 'GET', '/metadata'));
    t.equal(metadata.status, 200);
    t.equal(metadata.json.resourceType, 'CapabilityStatement');
    t.same(take(), [{ method: 'GET', url: '/fhir/metadata', status: 200, authorization: token1 }], '/metadata carried the token');

    // The upstream stops accepting the token: one 401, a new token, the same request again.
    upstream.revoke(token1);
    const afterRevoke = remember(await call(system, 'GET', `/Patient/${PATIENT}`));
    t.equal(afterRevoke.status, 200, 'the client never sees the upstream 401');
    const retried = take();
    t.same(retried.map((r) => `${r.method} ${r.url} ${r.status}`), [`GET /fhir/Patient/${PATIENT} 401`, `GET /fhir/Patient/${PATIENT} 200`], 'exactly one retry');
    t.equal(server.tokenRequests(), 2, 'with exactly one new token');
    const token2 = retried[1]!.authorization!;
    t.not(token2, token1);

    // A body the gateway holds (read to check it) is sent again.
    upstream.revoke(token2);
    const created = remember(await call(patientApp, 'POST', '/Observation', { body: JSON.stringify(observation('', PATIENT)) }));
    t.equal(created.status, 201, 'a create whose body the gateway checked is retried');
    t.same(take().map((r) => `${r.method} ${r.url} ${r.status}`), ['POST /fhir/Observation 401', 'POST /fhir/Observation 201']);
    t.equal(server.tokenRequests(), 3);

    // The stored-resource check before a confined update carries credentials, and is retried itself.
    upstream.revoke(upstream.requests.at(-1)!.headers.authorization!);
    const updated = remember(await call(patientApp, 'PUT', '/Observation/obs-a', { body: JSON.stringify({ ...observation('obs-a', PATIENT), status: 'amended' }) }));
    t.equal(updated.status, 200, 'update after the stored-resource check');
    const update = take();
    t.same(update.map((r) => `${r.method} ${r.url} ${r.status}`), ['GET /fhir/Observation/obs-a 401', 'GET /fhir/Observation/obs-a 200', 'PUT /fhir/Observation/obs-a 200']);
    t.ok(update.every((r) => r.authorization?.startsWith('Bearer ey')), 'every request with a token');
    t.equal(server.tokenRequests(), 4);

    // A body streamed from the client cannot be sent twice: 502, and the token is dropped.
    upstream.revoke(update.at(-1)!.authorization!);
    const streamed = remember(await call(system, 'POST', '/Patient', { body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Streamed' }] }) }));
    t.equal(streamed.status, 502, 'a streamed create that meets a 401 is answered 502');
    t.equal(streamed.json?.resourceType, 'OperationOutcome');
    t.match(diagnosticsOf(streamed), /refused the gateway's upstream credentials/);
    t.same(take().map((r) => `${r.method} ${r.url} ${r.status}`), ['POST /fhir/Patient 401'], 'sent once, not retried');
    t.notOk(streamed.headers['www-authenticate'], 'the upstream\'s challenge is not passed on');
    const next = remember(await call(system, 'GET', `/Patient/${PATIENT}`));
    t.equal(next.status, 200, 'the next request gets a new token');
    t.equal(server.tokenRequests(), 5);
    take();

    // A second 401 ends it: 502, never the upstream's 401.
    upstream.refuseAll(true);
    const refused = remember(await call(system, 'GET', `/Patient/${PATIENT}`));
    t.equal(refused.status, 502);
    t.match(diagnosticsOf(refused), /refused the gateway's upstream credentials/);
    t.same(take().map((r) => r.status), [401, 401], 'one retry, then no more');
    t.equal(server.tokenRequests(), 6);
    upstream.refuseAll(false);

    const ready = await fetch(`${gw.url}/readyz`);
    t.equal(ready.status, 200);
    // (The test server answers HEAD /metadata with 404: any answer but a 401 means ready.)
    t.match(take(), [{ method: 'HEAD', url: '/fhir/metadata', authorization: /^Bearer ey/ }], 'the readiness probe carries a token too');

    const text = await metrics();
    t.equal(server.tokenRequests(), 7, 'the probe fetched a new token (the last one was refused)');
    t.equal(metricValue(text, 'fhirgw_upstream_token_requests_total', { kind: 'client_credentials', outcome: 'ok', failure: '' }), 7, 'every token request counted');

    const upstreamTokens = [...new Set(upstream.seen.map((h) => h.authorization).filter((a): a is string => a !== undefined))].map((a) => a.slice('Bearer '.length));
    t.ok(upstreamTokens.length >= 6);
    await gw.stop();
    const logged = gw.stdout() + gw.stderr();
    t.ok(gw.logs.some((l) => l['msg'] === 'refusing proxied request' && /401 to the gateway's credentials/.test(String(l['err']))), 'a refusal of the credentials is logged');
    for (const secret of [SECRET, encodeURIComponent(SECRET), ...upstreamTokens]) {
      t.notOk(logged.includes(secret), `no log line holds ${secret.slice(0, 10)}...`);
      t.notOk(answers.some((a) => a.text.includes(secret)), `no answer holds ${secret.slice(0, 10)}...`);
    }
  });
}
