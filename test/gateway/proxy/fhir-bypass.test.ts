import t from 'tap';
import { callFhir, mintToken, twoPatientRecords } from '../../support/fhir-calls.js';
import { startStack } from '../../support/stack.js';

/**
 * Issue #3 bad input: each attempt to reach data around the decision is refused with an
 * OperationOutcome, and the upstream receives nothing at all.
 */
t.test('bypass attempts are refused before the upstream', async (t) => {
  const stack = await startStack(t, {
    store: 'memory',
    edit: (raw) => {
      raw.proxy = { max_buffered_body: 4096 };
    },
  });
  await stack.upstream.seed(twoPatientRecords());
  const alice = await mintToken(stack, { sub: 'alice', scope: 'patient/*.cruds', patient: 'pat-alice' });
  const aliceObservations = await mintToken(stack, { sub: 'alice', scope: 'patient/Observation.rs', patient: 'pat-alice' });
  const aliceReadOnly = await mintToken(stack, { sub: 'alice', scope: 'patient/*.rs', patient: 'pat-alice' });
  const observation = (patient: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patient}` } });
  stack.takeReceived();

  const cases: { name: string; token?: string; method?: string; path: string; body?: unknown; headers?: Record<string, string>; status: number; diagnostics?: RegExp }[] = [
    { name: 'encoded slash %2F', path: '/Patient%2Fpat-bob', status: 400, diagnostics: /encoded delimiter/ },
    { name: 'encoded dot segments %2e%2e', path: '/Observation/%2e%2e/Patient/pat-bob', status: 400, diagnostics: /dot segments/ },
    { name: 'empty segment //', path: '/Patient//pat-bob', status: 400, diagnostics: /empty path segment/ },
    { name: 'path parameter ;', path: '/Patient/pat-alice;jsessionid=x', status: 400, diagnostics: /path parameters/ },
    { name: 'trailing ? then _include=*', token: aliceObservations, path: '/Observation?&_include=*', status: 403, diagnostics: /_include=\*/ },
    { name: 'X-HTTP-Method-Override', path: '/Observation/obs-alice-hr', headers: { 'x-http-method-override': 'DELETE' }, status: 400, diagnostics: /method override/ },
    { name: 'X-Method-Override', path: '/Observation/obs-alice-hr', headers: { 'x-method-override': 'DELETE' }, status: 400, diagnostics: /method override/ },
    { name: '_method parameter', method: 'POST', path: '/Observation/obs-alice-hr?_method=DELETE', body: observation('pat-alice'), status: 400, diagnostics: /_method/ },
    { name: 'lowercase /patient', path: '/patient/pat-alice', status: 404, diagnostics: /unknown resource type/ },
    {
      name: 'batch carrying a write the token lacks',
      token: aliceReadOnly,
      method: 'POST',
      path: '/',
      body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'PUT', url: 'Patient/pat-alice' }, resource: { resourceType: 'Patient', id: 'pat-alice' } }] },
      status: 403,
      diagnostics: /1 of 1 batch entries/,
    },
    { name: 'Bundle type collection', method: 'POST', path: '/', body: { resourceType: 'Bundle', type: 'collection', entry: [] }, status: 400, diagnostics: /collection/ },
    { name: 'body that is not JSON', method: 'POST', path: '/Observation', body: '<Observation xmlns="http://hl7.org/fhir"/>', status: 400, diagnostics: /not JSON/ },
    { name: 'body larger than the limit', method: 'POST', path: '/Observation', body: { ...observation('pat-alice'), note: [{ text: 'x'.repeat(5000) }] }, status: 413, diagnostics: /max_buffered_body/ },
    { name: '_include=*', token: aliceObservations, path: '/Observation?_include=*', status: 403, diagnostics: /any resource type/ },
    { name: '_include into a type without scope', token: aliceObservations, path: '/Observation?_include=Observation:patient', status: 403, diagnostics: /patient\/Patient\.r/ },
    { name: '_revinclude from a type without scope', token: aliceObservations, path: '/Observation?_revinclude=Provenance:target', status: 403, diagnostics: /Provenance/ },
    { name: 'chain into a type without scope', token: aliceObservations, path: '/Observation?subject:Patient.name=Bob', status: 403, diagnostics: /Patient\.s/ },
    { name: '_has from a type without scope', token: aliceObservations, path: '/Observation?_has:Provenance:target:agent=x', status: 403, diagnostics: /Provenance/ },
    { name: 'compartment search of another patient', path: '/Patient/123/Observation', status: 403, diagnostics: /Patient\/123 is not the patient in context/ },
    { name: 'Observation?subject=Patient/other', path: '/Observation?subject=Patient/pat-bob', status: 403 },
    { name: 'Patient?_id=other', path: '/Patient?_id=pat-bob', status: 403 },
    { name: 'writing an Observation for another patient', method: 'POST', path: '/Observation', body: observation('pat-bob'), status: 403, diagnostics: /does not belong to Patient\/pat-alice/ },
    { name: 'unsigned opaque paging handle', path: '/Observation?_getpages=abc&subject=Patient/pat-alice', status: 403, diagnostics: /paging/ },
  ];

  for (const c of cases) {
    const reply = await callFhir(stack, c.token ?? alice, c.method ?? 'GET', c.path, { ...(c.body !== undefined ? { body: c.body } : {}), ...(c.headers ? { headers: c.headers } : {}) });
    t.equal(reply.status, c.status, `${c.name}: ${c.status}`);
    t.equal(reply.json?.resourceType, 'OperationOutcome', `${c.name}: OperationOutcome`);
    t.match(reply.headers.get('content-type') ?? '', /application\/fhir\+json/, `${c.name}: FHIR content type`);
    if (c.diagnostics) t.match(reply.json?.issue?.[0]?.diagnostics ?? '', c.diagnostics, `${c.name}: says why`);
    if (c.status === 403) t.match(reply.headers.get('www-authenticate') ?? '', /^Bearer .*error="insufficient_scope"/, `${c.name}: insufficient_scope challenge`);
    t.same(stack.takeReceived(), [], `${c.name}: nothing reached the upstream`);
  }

  // Confinement, not refusal: a search naming no patient only ever returns the patient's own data.
  const confined = await callFhir(stack, alice, 'GET', '/Observation?code=8867-4');
  t.equal(confined.status, 200);
  t.same(
    confined.json.entry.map((e: { resource: { subject: { reference: string } } }) => e.resource.subject.reference),
    ['Patient/pat-alice'],
    'Observation?code=x with no patient: only own data',
  );
  stack.takeReceived();

  // With patient/*.rs, _include=* is allowed but every included resource is checked.
  const wildcard = await callFhir(stack, aliceReadOnly, 'GET', '/Observation?_include=*');
  t.notOk(wildcard.text.includes('pat-bob'), `_include=* under patient/*.rs: nothing of Bob's (upstream answered ${wildcard.status})`);
  t.equal(stack.takeReceived()[0]!.url, '/fhir/Observation?_include=*&subject=Patient%2Fpat-alice', '_include=* under patient/*.rs is forwarded confined, its answer checked');

  t.notOk(stack.logs.some((line) => line.includes(alice) || line.includes('x'.repeat(100))), 'no token or body in the logs');
});
