import t from 'tap';
import type { Test } from 'tap';
import { callFhir, entryIds, mintToken, twoPatientRecords } from '../../support/fhir-calls.js';
import { startScriptedUpstream } from '../../support/scripted-upstream.js';
import { startStack } from '../../support/stack.js';

/**
 * Issue #3: every FHIR interaction class through the proxy, against the in-process Medplum
 * server seeded with two patients. A patient-scoped token (Alice) sees and changes only Alice's
 * data; what it may not do never reaches the upstream, and what the gateway can only judge from
 * the upstream's answer (reads by id, stored resources before a write) is withheld when it is
 * someone else's.
 */
t.test('patient-scoped token, interaction by interaction', async (t) => {
  const upstream = await startScriptedUpstream();
  t.teardown(() => upstream.close());
  const stack = await startStack(t, { store: 'memory', upstream });
  await upstream.seed(twoPatientRecords());
  const alice = await mintToken(stack, { sub: 'alice', scope: 'patient/*.cruds', patient: 'pat-alice' });
  const aliceReadOnly = await mintToken(stack, { sub: 'alice', scope: 'patient/*.rs', patient: 'pat-alice' });
  const system = await mintToken(stack, { sub: 'backend', client_id: 'backend', scope: 'system/*.cruds' });
  const base = stack.gateway.url;
  const call = (token: string, method: string, path: string, options?: Parameters<typeof callFhir>[4]) => callFhir(stack, token, method, path, options);
  const nothingForwarded = (t: Test, what: string) => t.same(stack.takeReceived(), [], `${what}: nothing reached the upstream`);
  const forwarded = () => stack.takeReceived().map((r) => `${r.method} ${r.url}`);
  const expectRefused = async (t: Test, reply: Awaited<ReturnType<typeof call>>, status: number, what: string) => {
    t.equal(reply.status, status, `${what}: ${status}`);
    t.equal(reply.json?.resourceType, 'OperationOutcome', `${what}: OperationOutcome`);
    if (status === 403) t.match(reply.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/, `${what}: insufficient_scope challenge`);
  };
  const observation = (patient: string, extra: Record<string, unknown> = {}) => ({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8310-5' }] },
    subject: { reference: `Patient/${patient}` },
    ...extra,
  });
  stack.takeReceived();

  t.test('read', async (t) => {
    const own = await call(alice, 'GET', '/Patient/pat-alice');
    t.equal(own.status, 200);
    t.equal(own.json.id, 'pat-alice');
    t.same(forwarded(), ['GET /fhir/Patient/pat-alice']);

    await expectRefused(t, await call(alice, 'GET', '/Patient/pat-bob'), 403, 'another Patient');
    nothingForwarded(t, 'another Patient');

    const ownObservation = await call(alice, 'GET', '/Observation/obs-alice-hr');
    t.equal(ownObservation.status, 200);
    t.equal(ownObservation.json.subject.reference, 'Patient/pat-alice');
    stack.takeReceived();

    const bobs = await call(alice, 'GET', '/Observation/obs-bob-hr');
    await expectRefused(t, bobs, 403, "Bob's Observation by id");
    t.notMatch(bobs.text, /pat-bob|obs-bob/, 'none of Bob’s data in the refusal');
    t.same(forwarded(), ['GET /fhir/Observation/obs-bob-hr'], 'refused after the response check');

    const head = await fetch(`${base}/Observation/obs-bob-hr`, { method: 'HEAD', headers: { authorization: `Bearer ${alice}` } });
    t.equal(head.status, 403, 'HEAD is checked like GET');
    stack.takeReceived();
  });

  t.test('vread', async (t) => {
    const current = await call(alice, 'GET', '/Observation/obs-alice-hr');
    const version = current.json.meta.versionId as string;
    const own = await call(alice, 'GET', `/Observation/obs-alice-hr/_history/${version}`);
    t.equal(own.status, 200);
    t.equal(own.json.id, 'obs-alice-hr');
    const bobVersion = (await call(system, 'GET', '/Observation/obs-bob-hr')).json.meta.versionId as string;
    stack.takeReceived();
    await expectRefused(t, await call(alice, 'GET', `/Observation/obs-bob-hr/_history/${bobVersion}`), 403, "Bob's version");
    t.same(forwarded(), [`GET /fhir/Observation/obs-bob-hr/_history/${bobVersion}`]);
  });

  t.test('search (type)', async (t) => {
    const all = await call(alice, 'GET', '/Observation');
    t.equal(all.status, 200);
    t.same(entryIds(all.json), ['Observation/obs-alice-glucose', 'Observation/obs-alice-hr'], 'only Alice’s observations');
    t.same(forwarded(), ['GET /fhir/Observation?subject=Patient%2Fpat-alice'], 'confined by the added parameter');
    for (const entry of all.json.entry) t.ok(entry.fullUrl.startsWith(base + '/Observation/'), `fullUrl on the public base (${entry.fullUrl})`);

    const byCode = await call(alice, 'GET', '/Observation?code=8867-4');
    t.same(entryIds(byCode.json), ['Observation/obs-alice-hr'], 'a search naming no patient returns only own data');
    t.same(forwarded(), ['GET /fhir/Observation?code=8867-4&subject=Patient%2Fpat-alice']);

    await expectRefused(t, await call(alice, 'GET', '/Observation?subject=Patient/pat-bob'), 403, 'Observation?subject=Patient/other');
    nothingForwarded(t, 'subject=other');
    await expectRefused(t, await call(alice, 'GET', '/Observation?patient=pat-bob'), 403, 'Observation?patient=other');
    nothingForwarded(t, 'patient=other');
    await expectRefused(t, await call(alice, 'GET', '/Patient?_id=pat-bob'), 403, 'Patient?_id=other');
    nothingForwarded(t, 'Patient?_id=other');

    const patients = await call(alice, 'GET', '/Patient');
    t.same(entryIds(patients.json), ['Patient/pat-alice'], 'Patient search confined to the patient in context');
    stack.takeReceived();

    const practitioners = await call(alice, 'GET', '/Practitioner');
    t.same(entryIds(practitioners.json), ['Practitioner/dr-who'], 'reference data is not confined');
    stack.takeReceived();

    // The in-memory Medplum server does not parse form bodies: answer as a server would.
    upstream.script(({ method, url, body, baseUrl }) =>
      method === 'POST' && url.pathname === '/fhir/Observation/_search'
        ? {
            status: 200,
            body: {
              resourceType: 'Bundle',
              type: 'searchset',
              link: [{ relation: 'self', url: `${baseUrl}/Observation?${body}&${url.searchParams.toString()}` }],
              entry: [{ fullUrl: `${baseUrl}/Observation/obs-alice-glucose`, resource: { resourceType: 'Observation', id: 'obs-alice-glucose', subject: { reference: 'Patient/pat-alice' } } }],
            },
          }
        : undefined,
    );
    const form = await call(alice, 'POST', '/Observation/_search', { body: 'code=2339-0', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    t.equal(form.status, 200, 'POST _search');
    t.same(entryIds(form.json), ['Observation/obs-alice-glucose']);
    t.equal(form.json.link[0].url, `${base}/Observation?code=2339-0&subject=Patient%2Fpat-alice`, 'self link on the public base');
    const [formForwarded] = stack.takeReceived();
    t.equal(formForwarded!.url, '/fhir/Observation/_search?subject=Patient%2Fpat-alice');
    t.equal(formForwarded!.body, 'code=2339-0', 'form body forwarded as sent');
  });

  t.test('search (compartment)', async (t) => {
    upstream.script(({ method, url, baseUrl }) => {
      if (method !== 'GET' || url.pathname !== '/fhir/Patient/pat-alice/Observation') return undefined;
      return {
        status: 200,
        body: {
          resourceType: 'Bundle',
          type: 'searchset',
          link: [{ relation: 'self', url: `${baseUrl}/Patient/pat-alice/Observation` }],
          entry: [{ fullUrl: `${baseUrl}/Observation/obs-alice-hr`, resource: { resourceType: 'Observation', id: 'obs-alice-hr', status: 'final', code: { text: 'hr' }, subject: { reference: 'Patient/pat-alice' } } }],
        },
      };
    });
    // A misbehaving upstream that answers Alice's compartment search with Bob's Condition.
    upstream.script(({ url, baseUrl }) =>
      url.pathname === '/fhir/Patient/pat-alice/Condition'
        ? { status: 200, body: { resourceType: 'Bundle', type: 'searchset', entry: [{ fullUrl: `${baseUrl}/Condition/cond-bob`, resource: { resourceType: 'Condition', id: 'cond-bob', subject: { reference: 'Patient/pat-bob' } } }] } }
        : undefined,
    );
    const own = await call(alice, 'GET', '/Patient/pat-alice/Observation');
    t.equal(own.status, 200);
    t.same(entryIds(own.json), ['Observation/obs-alice-hr']);
    t.equal(own.json.link[0].url, `${base}/Patient/pat-alice/Observation`, 'self link on the public base');
    t.equal(own.json.entry[0].fullUrl, `${base}/Observation/obs-alice-hr`);
    t.same(forwarded(), ['GET /fhir/Patient/pat-alice/Observation']);

    await expectRefused(t, await call(alice, 'GET', '/Patient/pat-bob/Observation'), 403, 'another patient’s compartment');
    nothingForwarded(t, '/Patient/other/Observation');

    const lying = await call(alice, 'GET', '/Patient/pat-alice/Condition');
    await expectRefused(t, lying, 403, 'upstream answers with another patient’s data');
    t.notMatch(lying.text, /cond-bob/);
    stack.takeReceived();
  });

  t.test('search (system)', async (t) => {
    await expectRefused(t, await call(alice, 'GET', '/?_type=Observation'), 403, 'system search with a patient token');
    nothingForwarded(t, 'system search');
    const allowed = await call(system, 'GET', '/?_type=Observation');
    t.equal(allowed.status, 200, 'a system token may search the whole server');
    t.same(forwarded(), ['GET /fhir/?_type=Observation']);
  });

  t.test('create', async (t) => {
    const body = JSON.stringify(observation('pat-alice'), null, 3);
    const created = await call(alice, 'POST', '/Observation', { body });
    t.equal(created.status, 201);
    t.match(created.headers.get('location') ?? '', new RegExp(`^${base}/Observation/[^/]+/_history/`), 'Location on the public base');
    const [sent] = stack.takeReceived();
    t.equal(sent!.body, body, 'the exact bytes the client sent are forwarded (not a re-serialization)');

    await expectRefused(t, await call(alice, 'POST', '/Observation', { body: observation('pat-bob') }), 403, 'creating an Observation for another patient');
    nothingForwarded(t, 'create for another patient');
    await expectRefused(t, await call(aliceReadOnly, 'POST', '/Observation', { body: observation('pat-alice') }), 403, 'create without c');
    nothingForwarded(t, 'create without c');
  });

  t.test('update', async (t) => {
    const current = (await call(alice, 'GET', '/Observation/obs-alice-glucose')).json;
    stack.takeReceived();
    const updated = await call(alice, 'PUT', '/Observation/obs-alice-glucose', { body: { ...current, status: 'amended' } });
    t.equal(updated.status, 200);
    t.equal(updated.json.status, 'amended');
    const sent = stack.takeReceived();
    t.same(sent.map((r) => r.method), ['GET', 'PUT'], 'the stored resource is fetched and checked first');
    t.equal(sent[1]!.headers['if-match'], `W/"${current.meta.versionId}"`, 'the write is pinned to the checked version');

    const hijack = await call(alice, 'PUT', '/Observation/obs-bob-hr', { body: { ...observation('pat-alice'), id: 'obs-bob-hr' } });
    await expectRefused(t, hijack, 403, 'overwriting another patient’s Observation with a body naming oneself');
    t.same(forwarded(), ['GET /fhir/Observation/obs-bob-hr'], 'only the check reached the upstream, not the PUT');
    t.equal((await call(system, 'GET', '/Observation/obs-bob-hr')).json.subject.reference, 'Patient/pat-bob', 'Bob’s Observation unchanged');
    stack.takeReceived();

    await expectRefused(t, await call(alice, 'PUT', '/Observation/obs-alice-hr', { body: { ...observation('pat-bob'), id: 'obs-alice-hr' } }), 403, 'moving own Observation to another patient');
    nothingForwarded(t, 'update body for another patient');

    const stale = await call(alice, 'PUT', '/Observation/obs-alice-glucose', { body: { ...current, status: 'final' }, headers: { 'if-match': 'W/"stale"' } });
    t.equal(stale.status, 412, 'a client If-Match for another version fails');
    t.same(forwarded(), ['GET /fhir/Observation/obs-alice-glucose']);
  });

  t.test('patch', async (t) => {
    const patchHeaders = { 'content-type': 'application/json-patch+json' };
    const patched = await call(alice, 'PATCH', '/Observation/obs-alice-hr', { body: [{ op: 'replace', path: '/status', value: 'corrected' }], headers: patchHeaders });
    t.equal(patched.status, 200);
    t.equal(patched.json.status, 'corrected');
    t.same(stack.takeReceived().map((r) => r.method), ['GET', 'PATCH']);

    await expectRefused(t, await call(alice, 'PATCH', '/Observation/obs-bob-chol', { body: [{ op: 'replace', path: '/status', value: 'cancelled' }], headers: patchHeaders }), 403, 'patching another patient’s Observation');
    t.same(forwarded(), ['GET /fhir/Observation/obs-bob-chol'], 'the PATCH itself was not forwarded');

    await expectRefused(t, await call(alice, 'PATCH', '/Observation/obs-alice-hr', { body: [{ op: 'replace', path: '/subject', value: { reference: 'Patient/pat-bob' } }], headers: patchHeaders }), 403, 'a patch moving the subject');
    nothingForwarded(t, 'patch on the compartment reference');
    // The operation names only a string: the decision reads it as a reference and refuses before anything is fetched.
    await expectRefused(t, await call(alice, 'PATCH', '/Observation/obs-alice-hr', { body: [{ op: 'replace', path: '/subject/reference', value: 'Patient/pat-bob' }], headers: patchHeaders }), 403, 'a patch rewriting the reference string');
    t.same(forwarded(), [], 'neither the PATCH nor a read of the stored resource was forwarded');
    t.equal((await call(alice, 'GET', '/Observation/obs-alice-hr')).json.subject.reference, 'Patient/pat-alice', 'still Alice’s');
    stack.takeReceived();
    await expectRefused(t, await call(alice, 'PATCH', '/Observation/obs-alice-hr', { body: { resourceType: 'Parameters', parameter: [] }, headers: patchHeaders }), 403, 'a FHIRPath Patch cannot be checked');
  });

  t.test('delete', async (t) => {
    const created = await call(alice, 'POST', '/Observation', { body: observation('pat-alice') });
    stack.takeReceived();
    const deleted = await call(alice, 'DELETE', `/Observation/${created.json.id}`);
    t.ok(deleted.status === 200 || deleted.status === 204, `own Observation deleted (${deleted.status})`);
    t.same(stack.takeReceived().map((r) => r.method), ['GET', 'DELETE']);

    await expectRefused(t, await call(alice, 'DELETE', '/Observation/obs-bob-hr'), 403, 'deleting another patient’s Observation');
    t.same(forwarded(), ['GET /fhir/Observation/obs-bob-hr'], 'the DELETE was not forwarded');
    t.equal((await call(system, 'GET', '/Observation/obs-bob-hr')).status, 200, 'Bob’s Observation still there');
    stack.takeReceived();
  });

  t.test('history', async (t) => {
    const own = await call(alice, 'GET', '/Observation/obs-alice-hr/_history');
    t.equal(own.status, 200);
    t.equal(own.json.type, 'history');
    t.ok(own.json.entry.length >= 2, 'every version');
    for (const entry of own.json.entry) t.ok(String(entry.fullUrl).startsWith(base), 'fullUrl on the public base');
    stack.takeReceived();

    await expectRefused(t, await call(alice, 'GET', '/Observation/obs-bob-hr/_history'), 403, 'history of another patient’s Observation');
    t.same(forwarded(), ['GET /fhir/Observation/obs-bob-hr/_history']);
    await expectRefused(t, await call(alice, 'GET', '/Observation/_history'), 403, 'type history cannot be confined');
    nothingForwarded(t, 'type history');
    await expectRefused(t, await call(alice, 'GET', '/_history'), 403, 'system history');
    nothingForwarded(t, 'system history');
  });

  t.test('conditional interactions', async (t) => {
    const created = await call(alice, 'POST', '/Observation', {
      body: observation('pat-alice', { identifier: [{ system: 'urn:test', value: 'c1' }] }),
      headers: { 'if-none-exist': 'identifier=urn:test|c1&subject=Patient/pat-alice' },
    });
    t.equal(created.status, 201, 'conditional create naming the patient');
    stack.takeReceived();
    await expectRefused(t, await call(alice, 'POST', '/Observation', { body: observation('pat-alice'), headers: { 'if-none-exist': 'identifier=urn:test|c1' } }), 403, 'If-None-Exist without the patient');
    nothingForwarded(t, 'unconfined If-None-Exist');

    const updated = await call(alice, 'PUT', '/Observation?identifier=urn:test|c1', { body: observation('pat-alice', { identifier: [{ system: 'urn:test', value: 'c1' }], status: 'amended' }) });
    t.equal(updated.status, 200, 'conditional update');
    t.same(forwarded(), ['PUT /fhir/Observation?identifier=urn:test|c1&subject=Patient%2Fpat-alice'], 'criteria confined to the patient');

    const removed = await call(alice, 'DELETE', '/Observation?code=2093-3');
    t.ok(removed.status < 300, `conditional delete (${removed.status})`);
    t.same(forwarded(), ['DELETE /fhir/Observation?code=2093-3&subject=Patient%2Fpat-alice'], 'cannot reach another patient’s matching resources');
    t.equal((await call(system, 'GET', '/Observation/obs-bob-chol')).status, 200, 'Bob’s matching Observation survives');
    stack.takeReceived();
  });

  t.test('operations', async (t) => {
    upstream.script(({ url, baseUrl }) => {
      if (url.pathname !== '/fhir/Patient/pat-alice/$everything') return undefined;
      // The second call plays a misbehaving server that slips in another patient's data.
      const extra = url.searchParams.get('_since') ? [{ resource: { resourceType: 'Observation', id: 'obs-bob-hr', subject: { reference: 'Patient/pat-bob' } } }] : [];
      return {
        status: 200,
        body: {
          resourceType: 'Bundle',
          type: 'searchset',
          entry: [{ fullUrl: `${baseUrl}/Patient/pat-alice`, resource: { resourceType: 'Patient', id: 'pat-alice' } }, ...extra],
        },
      };
    });
    const everything = await call(alice, 'GET', '/Patient/pat-alice/$everything');
    t.equal(everything.status, 200, '$everything on the own record');
    t.equal(everything.json.entry[0].fullUrl, `${base}/Patient/pat-alice`);
    stack.takeReceived();
    await expectRefused(t, await call(alice, 'GET', '/Patient/pat-alice/$everything?_since=2020-01-01'), 403, '$everything answered with another patient’s data');
    stack.takeReceived();
    await expectRefused(t, await call(alice, 'GET', '/Patient/pat-bob/$everything'), 403, '$everything on another patient');
    nothingForwarded(t, '$everything other');
    await expectRefused(t, await call(alice, 'GET', '/$export'), 403, '$export with a patient token');
    nothingForwarded(t, '$export');
    await expectRefused(t, await call(alice, 'POST', '/$graphql', { body: { query: '{ PatientList { id } }' } }), 403, '$graphql');
    nothingForwarded(t, '$graphql');
  });

  t.test('batch', async (t) => {
    const reads = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'GET', url: 'Patient/pat-alice' } }, { request: { method: 'GET', url: 'Observation?subject=Patient/pat-alice' } }],
    };
    const ok = await call(aliceReadOnly, 'POST', '/', { body: reads });
    t.equal(ok.status, 200, 'a batch of allowed reads');
    t.equal(ok.json.type, 'batch-response');
    const [sent] = stack.takeReceived();
    t.equal(sent!.body, JSON.stringify(reads), 'the Bundle is forwarded as sent');

    const withWrite = { ...reads, entry: [...reads.entry, { request: { method: 'POST', url: 'Observation' }, resource: observation('pat-alice') }] };
    const refused = await call(aliceReadOnly, 'POST', '/', { body: withWrite });
    await expectRefused(t, refused, 403, 'batch carrying a write the token lacks');
    t.same(refused.json.issue[1].expression, ['Bundle.entry[2]'], 'the denied entry is named');
    nothingForwarded(t, 'batch with a forbidden write');

    const unconfined = { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Observation' } }] };
    await expectRefused(t, await call(alice, 'POST', '/', { body: unconfined }), 403, 'batch search not stating the patient');
    nothingForwarded(t, 'unconfined batch search');
  });

  t.test('transaction', async (t) => {
    const entry = (patient: string, i: number) => ({ fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, request: { method: 'POST', url: 'Observation' }, resource: observation(patient) });
    const fiftyOneEntries = { resourceType: 'Bundle', type: 'transaction', entry: [...Array.from({ length: 50 }, (_, i) => entry('pat-alice', i)), entry('pat-bob', 50)] };
    const refused = await call(alice, 'POST', '/', { body: fiftyOneEntries });
    await expectRefused(t, refused, 403, 'one forbidden entry among fifty allowed');
    t.equal(refused.json.issue.length, 2, 'exactly one denied entry reported');
    t.same(refused.json.issue[1].expression, ['Bundle.entry[50]']);
    t.match(refused.json.issue[0].diagnostics, /1 of 51 transaction entries/);
    nothingForwarded(t, 'transaction with one forbidden entry');

    const allowed = { resourceType: 'Bundle', type: 'transaction', entry: [entry('pat-alice', 1), entry('pat-alice', 2)] };
    const done = await call(alice, 'POST', '/', { body: allowed });
    t.equal(done.status, 200, 'an allowed transaction');
    t.equal(done.json.type, 'transaction-response');
    for (const e of done.json.entry) {
      t.ok(String(e.fullUrl).startsWith(`${base}/Observation/`), `fullUrl public (${e.fullUrl})`);
      if (e.response?.location) t.ok(String(e.response.location).startsWith('Observation/') || String(e.response.location).startsWith(base), 'response.location never names the upstream');
    }
    t.notMatch(done.text, new RegExp(upstream.baseUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the upstream base never reaches the client');
    stack.takeReceived();
  });
});

t.test('granular scope: only the matching category', async (t) => {
  const stack = await startStack(t, { store: 'memory' });
  await stack.upstream.seed(twoPatientRecords());
  const labs = await mintToken(stack, {
    sub: 'alice',
    scope: 'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory',
    patient: 'pat-alice',
  });
  const lab = await callFhir(stack, labs, 'GET', '/Observation/obs-alice-glucose');
  t.equal(lab.status, 200, 'a laboratory Observation');
  const vital = await callFhir(stack, labs, 'GET', '/Observation/obs-alice-hr');
  t.equal(vital.status, 403, 'a vital-signs Observation is withheld');
  const search = await callFhir(stack, labs, 'GET', '/Observation');
  t.same(entryIds(search.json), ['Observation/obs-alice-glucose'], 'search limited to the category and the patient');
  const received = stack.takeReceived();
  t.match(received.at(-1)!.url, /category=http%3A%2F%2Fterminology\.hl7\.org%2FCodeSystem%2Fobservation-category%7Claboratory/);
  t.match(received.at(-1)!.url, /subject=Patient%2Fpat-alice/);
});
