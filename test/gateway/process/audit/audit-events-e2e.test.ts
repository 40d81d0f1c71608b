import t from 'tap';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { startFhirUpstream, type FhirUpstream } from '../../../../gateway/demo/fhir-upstream.js';
import { balpProblems, r4Problems } from '../../../support/balp-conformance.js';
import { freePort } from '../../../support/free-port.js';
import { startGatewayProcess, waitFor } from '../../../support/gateway-process.js';
import { clientToken } from '../../../support/ops-helpers.js';
import { startRedisServerFor } from '../../../support/redis-server.js';
import { BACKEND_SECRET, baseRawConfig } from '../../../support/stack.js';

/**
 * Issue 13, item 1, through the CLI-started gateway: every proxied decision becomes a BALP
 * AuditEvent that lands in a real FHIR server (the in-process Medplum) and validates as an R4
 * AuditEvent; the endpoint's credentials default to the upstream's on the upstream's base and are
 * audit.fhir.auth's elsewhere.
 */

const UPSTREAM_KEY = 'upstream-api-key-0123456789';
const WRITER_SCOPE = 'system/Patient.rs system/Observation.cruds';

function writerClient() {
  return { client_id: 'writer', client_secret: BACKEND_SECRET, grant_types: ['client_credentials'], scope: WRITER_SCOPE };
}

/** AuditEvents stored on a FHIR server, by their X-Request-Id. */
async function storedAuditEvents(server: FhirUpstream): Promise<Map<string, AuditEvent[]>> {
  const response = await fetch(`${server.baseUrl}/AuditEvent?_count=1000`, { headers: { accept: 'application/fhir+json' } });
  const bundle = (await response.json()) as Bundle<AuditEvent>;
  const byRequest = new Map<string, AuditEvent[]>();
  for (const entry of bundle.entry ?? []) {
    const id = requestIdOf(entry.resource!);
    if (id !== undefined) byRequest.set(id, [...(byRequest.get(id) ?? []), entry.resource!]);
  }
  return byRequest;
}

const requestIdOf = (event: AuditEvent) => event.entity?.find((e) => e.type?.code === 'XrequestId')?.what?.identifier?.value;
const queryOf = (event: AuditEvent) => {
  const query = event.entity?.find((e) => e.role?.code === '24')?.query;
  return query === undefined ? undefined : Buffer.from(query, 'base64').toString('utf8');
};
const referencesOf = (event: AuditEvent) => (event.entity ?? []).map((e) => e.what?.reference).filter((r): r is string => r !== undefined);

t.test('AuditEvents land on the upstream (Medplum), one per decision, valid R4, with the upstream’s credentials', async (t) => {
  const redis = await startRedisServerFor(t);
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'p1', name: [{ family: 'Auditson' }] }] as never);
  const raw = baseRawConfig(await freePort(), upstream.baseUrl, redis.url);
  raw.clients.push(writerClient());
  raw.upstream.auth = { type: 'header', header: { name: 'X-Api-Key', value: UPSTREAM_KEY } };
  // A trailing slash is still the upstream's base.
  raw.audit = { fhir: { url: `${upstream.baseUrl}/`, batch_size: 4, flush_interval: '1s' } };
  const gw = await startGatewayProcess(t, { config: raw });
  const token = await clientToken(gw.url, 'writer', BACKEND_SECRET, WRITER_SCOPE);
  const auth = { authorization: `Bearer ${token}` };

  const call = async (id: string, path: string, init: RequestInit = {}) => {
    const res = await fetch(`${gw.url}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>), 'x-request-id': id } });
    const text = await res.text();
    return { status: res.status, location: res.headers.get('location'), text };
  };
  const fhirJson = { 'content-type': 'application/fhir+json' };
  const observation = { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: 'Patient/p1' } };

  t.equal((await call('ae-read', '/Patient/p1')).status, 200);
  t.equal((await call('ae-search', '/Observation?subject=Patient/p1&code=8867-4')).status, 200);
  const created = await call('ae-create', '/Observation', { method: 'POST', headers: fhirJson, body: JSON.stringify(observation) });
  t.equal(created.status, 201);
  const createdId = /\/Observation\/([^/]+)\/_history\//.exec(created.location ?? '')?.[1];
  t.ok(createdId, `the create answered with a Location (${created.location})`);
  const postSearch = await call('ae-post-search', '/Observation/_search', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'code=1234-5&_count=2',
  });
  // The in-process server reads every body as JSON and answers a form with 400; what matters is
  // that the search was allowed and forwarded as sent.
  t.equal(postSearch.status, 400);
  t.ok(upstream.received.some((r) => r.method === 'POST' && r.url === '/fhir/Observation/_search' && r.body === 'code=1234-5&_count=2'), 'the POST _search went upstream');
  const conditional = await call('ae-conditional', '/Observation', {
    method: 'POST',
    headers: { ...fhirJson, 'if-none-exist': 'identifier=urn:x|cond-1' },
    body: JSON.stringify({ ...observation, identifier: [{ system: 'urn:x', value: 'cond-1' }] }),
  });
  t.ok(conditional.status === 200 || conditional.status === 201, `the conditional create went through (${conditional.status})`);
  t.equal((await call('ae-deny', '/Patient/p1', { method: 'PUT', headers: fhirJson, body: JSON.stringify({ resourceType: 'Patient', id: 'p1' }) })).status, 403);
  const badToken = await fetch(`${gw.url}/Patient/p1?name=Auditson`, { headers: { authorization: 'Bearer not.a.token', 'x-request-id': 'ae-bad-token' } });
  t.equal(badToken.status, 401);
  await badToken.arrayBuffer();
  const expected = ['ae-read', 'ae-search', 'ae-create', 'ae-post-search', 'ae-conditional', 'ae-deny', 'ae-bad-token'];

  let stored = new Map<string, AuditEvent[]>();
  await waitFor(
    async () => {
      stored = await storedAuditEvents(upstream);
      return expected.every((id) => stored.has(id));
    },
    20_000,
    'every AuditEvent on the upstream',
  );
  const one = (id: string) => stored.get(id)![0]!;

  t.test('one per decision, each a valid R4 AuditEvent, each claimed BALP profile met', async (t) => {
    for (const id of expected) {
      t.equal(stored.get(id)!.length, 1, `${id}: exactly one`);
      const event = one(id);
      t.same(r4Problems(event), [], `${id}: valid R4`);
      if (event.meta?.profile) t.same(balpProblems(event), [], `${id}: meets ${event.meta.profile[0]}`);
      t.equal(event.source.observer?.identifier?.value, raw.server.public_url, `${id}: observed by the gateway`);
      const client = event.agent.find((agent) => agent.network?.type === '2');
      t.equal(client?.network?.address, '127.0.0.1', `${id}: the client's address`);
      t.ok(referencesOf(event).every((ref) => !ref.startsWith('http')), `${id}: references relative to the upstream that stores them`);
    }
  });

  t.test('what each says', async (t) => {
    const read = one('ae-read');
    t.match(read, { subtype: [{ code: 'read' }], action: 'R', outcome: '0', meta: { profile: [/IHE\.BasicAudit\.PatientRead$/] } });
    t.ok(referencesOf(read).includes('Patient/p1'));
    t.match(read.agent, [{ who: { identifier: { system: raw.server.public_url, value: 'writer' } } }], 'the client by its client_id');

    t.match(one('ae-search'), { subtype: [{ code: 'search-type' }], action: 'E', outcome: '0', meta: { profile: [/IHE\.BasicAudit\.Query$/] } });
    t.equal(queryOf(one('ae-search')), '/Observation?subject=Patient/p1&code=8867-4', 'the search exactly as sent');

    const create = one('ae-create');
    t.match(create, { subtype: [{ code: 'create' }], action: 'C', outcome: '0', meta: { profile: [/IHE\.BasicAudit\.Create$/] } });
    t.ok(referencesOf(create).includes(`Observation/${createdId}`), 'the created resource, by the id from the Location header');
    t.equal((await fetch(`${upstream.baseUrl}/Observation/${createdId}`)).status, 200, 'which is the one the upstream stored');

    t.equal(queryOf(one('ae-post-search')), '/Observation/_search?code=1234-5&_count=2', 'a POST _search: its form body as the query');
    t.match(one('ae-post-search'), { subtype: [{ code: 'search-type' }], outcome: '4' }, 'allowed, and the upstream’s 400 is the outcome');
    t.equal(queryOf(one('ae-conditional')), '/Observation?identifier=urn:x|cond-1', 'a conditional create: its If-None-Exist criteria');

    const deny = one('ae-deny');
    t.match(deny, { subtype: [{ code: 'update' }], action: 'U', outcome: '4' });
    t.ok(deny.outcomeDesc, 'with the reason');
    t.notOk(deny.meta?.profile, 'a refusal claims no BALP profile');

    const bad = one('ae-bad-token');
    t.match(bad, { action: 'R', outcome: '4' });
    t.notOk(bad.subtype, 'refused before it was classified: no interaction');
    t.notOk(JSON.stringify(bad).includes('not.a.token'), 'the presented token is not recorded');
    t.notOk(queryOf(bad), 'nor its query: it was never understood as a search');
  });

  t.test('sent to the upstream’s base with the upstream’s credentials; no token in any AuditEvent', async (t) => {
    const posts = upstream.received.filter((r) => r.method === 'POST' && r.url === '/fhir' && r.body.includes('"AuditEvent"'));
    t.ok(posts.length >= 2, `batches of at most 4 (${posts.length} POSTs)`);
    t.ok(posts.every((p) => p.headers['x-api-key'] === UPSTREAM_KEY), 'each with upstream.auth’s header');
    t.ok(posts.every((p) => (JSON.parse(p.body) as Bundle).type === 'batch'), 'as batch Bundles');
    t.ok(posts.every((p) => ((JSON.parse(p.body) as Bundle).entry ?? []).length <= 4), 'of at most batch_size entries');
    const all = JSON.stringify([...stored.values()]);
    t.notOk(all.includes(token), 'no access token');
    t.notOk(all.includes(token.split('.')[2]!), 'not even its signature');
    t.notOk(all.includes(BACKEND_SECRET));
  });

  t.test('the search never reaches the request log', async (t) => {
    await gw.stop();
    const out = gw.stdout();
    t.ok(gw.logs.some((l) => l.msg === 'request' && l.path === '/Observation'), 'the request log has the path');
    for (const value of ['8867-4', '1234-5', 'cond-1', 'Auditson']) t.notOk(out.includes(value), `no ${value} in the gateway's output`);
    t.ok(gw.logs.some((l) => l.msg === 'FHIR AuditEvents are recorded and sent to audit.fhir.url' && l.credentials === 'upstream.auth'), 'the start names where the credentials come from');
    t.notOk(out.includes(UPSTREAM_KEY), 'and never the credential');
    const created = gw.logs.find((l) => l.event === 'fhir-access' && l.request_id === 'ae-create');
    t.equal(created?.resource_id, createdId, 'the JSON audit line names the created resource too');
  });
});

t.test('another audit server: audit.fhir.auth’s credentials (not the upstream’s), absolute references', async (t) => {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  const repository = await startFhirUpstream();
  t.teardown(() => repository.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'p2' }] as never);
  const raw = baseRawConfig(await freePort(), upstream.baseUrl);
  raw.upstream.auth = { type: 'header', header: { name: 'X-Api-Key', value: UPSTREAM_KEY } };
  raw.audit = {
    enabled: false,
    fhir: { url: repository.baseUrl, batch_size: 1, flush_interval: '1s', auth: { type: 'basic', basic: { username: 'auditor', password: 'audit-pass-987' } } },
  };
  const gw = await startGatewayProcess(t, { config: raw });
  const token = await clientToken(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const read = await fetch(`${gw.url}/Patient/p2`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'other-read' } });
  t.equal(read.status, 200);
  await read.arrayBuffer();

  let stored = new Map<string, AuditEvent[]>();
  await waitFor(async () => (stored = await storedAuditEvents(repository)).has('other-read'), 20_000, 'the AuditEvent on the audit repository');
  const event = stored.get('other-read')![0]!;
  t.same(r4Problems(event), []);
  t.ok(referencesOf(event).includes(`${raw.server.public_url}/Patient/p2`), 'the patient, absolute against the public URL');
  const post = repository.received.find((r) => r.method === 'POST' && r.url === '/fhir')!;
  t.equal(post.headers.authorization, `Basic ${Buffer.from('auditor:audit-pass-987').toString('base64')}`, 'audit.fhir.auth');
  t.notOk(post.headers['x-api-key'], 'the upstream’s credential does not go to another server');
  t.notOk(upstream.received.some((r) => r.method === 'POST' && r.url === '/fhir'), 'nothing went to the upstream');
  await gw.stop();
  t.notOk(gw.stdout().includes('audit-pass-987'), 'the password is never logged');
});
