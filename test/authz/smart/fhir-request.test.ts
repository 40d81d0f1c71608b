import t from 'tap';
import { analyzeSearchReach, classifyRequest, normalizePath, type ClassifiedRequest, type FhirRequestFacts } from '../../../authz/smart/fhir-request.js';

t.test('normalizePath accepts canonical paths', async (t) => {
  t.same(normalizePath('/Patient/123'), { ok: true, segments: ['Patient', '123'], path: '/Patient/123' });
  t.same(normalizePath(''), { ok: true, segments: [], path: '/' });
  t.same(normalizePath('/'), { ok: true, segments: [], path: '/' });
  t.same(normalizePath('/Patient/'), { ok: true, segments: ['Patient'], path: '/Patient' });
  t.same(normalizePath('/%50atient/a-b.c'), { ok: true, segments: ['Patient', 'a-b.c'], path: '/Patient/a-b.c' });
  t.same(normalizePath('/Patient/1/$everything'), { ok: true, segments: ['Patient', '1', '$everything'], path: '/Patient/1/$everything' });
  t.same(normalizePath('/.well-known/smart-configuration'), { ok: true, segments: ['.well-known', 'smart-configuration'], path: '/.well-known/smart-configuration' });
});

t.test('normalizePath refuses ambiguous spellings', async (t) => {
  const refused = [
    'Patient/1',
    '/Patient%2F1',
    '/Patient%2f1',
    '/Patient%5C1',
    '/Patient/1%00',
    '/Patient/1;jsessionid=abc',
    '/Patient/1%3bx',
    '/Patient/..',
    '/Patient/.',
    '/Patient/%2e%2e',
    '/Patient/%2E',
    '/Patient//1',
    '//Patient',
    '/Patient/%252e%252e',
    '/Patient/%',
    '/Patient/%zz',
    '/Patient/a b',
    '/Patient/\u00e9',
    '/Patient/%C3%A9',
    '/Patient/%0a',
    '/Patient/1%3Fx=1',
    '/Patient/1%23frag',
  ];
  for (const raw of refused) {
    const result = normalizePath(raw);
    t.equal(result.ok, false, `${JSON.stringify(raw)} refused`);
    if (!result.ok) t.ok(result.reason.length > 0);
  }
});

const facts = (method: string, target: string, headers: FhirRequestFacts['headers'] = {}, body?: unknown): FhirRequestFacts => {
  const q = target.indexOf('?');
  return {
    method,
    rawPath: q === -1 ? target : target.slice(0, q),
    query: new URLSearchParams(q === -1 ? '' : target.slice(q + 1)),
    headers,
    ...(body !== undefined ? { body } : {}),
  };
};

/** The classification, or the error (which then fails the t.match against an interaction). */
function classified(method: string, target: string, headers: FhirRequestFacts['headers'] = {}, body?: unknown): ClassifiedRequest | { error: string } {
  return classifyRequest(facts(method, target, headers, body));
}

t.test('classifyRequest: every interaction', async (t) => {
  const table: [string, string, Partial<ClassifiedRequest>, FhirRequestFacts['headers']?][] = [
    ['GET', '/Patient/1', { interaction: 'read', resourceType: 'Patient', id: '1' }],
    ['HEAD', '/Patient/1', { interaction: 'read', method: 'GET' }],
    ['GET', '/Patient/1/_history/3', { interaction: 'vread', id: '1', versionId: '3' }],
    ['PUT', '/Patient/1', { interaction: 'update', id: '1' }],
    ['PATCH', '/Patient/1', { interaction: 'patch' }],
    ['DELETE', '/Patient/1', { interaction: 'delete' }],
    ['GET', '/Patient/1/_history', { interaction: 'history-instance' }],
    ['GET', '/Patient/_history', { interaction: 'history-type', resourceType: 'Patient' }],
    ['GET', '/_history', { interaction: 'history-system' }],
    ['POST', '/Patient', { interaction: 'create', resourceType: 'Patient' }],
    ['GET', '/Patient?name=x', { interaction: 'search-type' }],
    ['POST', '/Patient/_search', { interaction: 'search-type', needsBody: true }],
    ['GET', '/?_type=Patient', { interaction: 'search-system', path: '/' }],
    ['POST', '/_search', { interaction: 'search-system', needsBody: true }],
    ['GET', '/Patient/1/Observation', { interaction: 'search-compartment', resourceType: 'Observation', compartment: { type: 'Patient', id: '1' } }],
    ['GET', '/Patient/1/*', { interaction: 'search-compartment', resourceType: '*' }],
    ['GET', '/Encounter/9/Observation', { interaction: 'search-compartment', compartment: { type: 'Encounter', id: '9' } }],
    ['POST', '/Patient', { interaction: 'conditional-create' }, { 'If-None-Exist': 'identifier=a|1' }],
    ['PUT', '/Patient?identifier=a|1', { interaction: 'conditional-update' }],
    ['PATCH', '/Patient?identifier=a|1', { interaction: 'conditional-patch' }],
    ['DELETE', '/Patient?identifier=a|1', { interaction: 'conditional-delete' }],
    ['GET', '/$export', { interaction: 'operation-system', operation: 'export' }],
    ['POST', '/Patient/$match', { interaction: 'operation-type', operation: 'match', resourceType: 'Patient' }],
    ['GET', '/Patient/1/$everything', { interaction: 'operation-instance', operation: 'everything', id: '1' }],
    ['GET', '/metadata', { interaction: 'capabilities' }],
    ['GET', '/.well-known/smart-configuration', { interaction: 'well-known' }],
    ['POST', '/', { interaction: 'batch', needsBody: true }],
  ];
  for (const [method, target, expected, headers] of table) {
    t.match(classified(method, target, headers), expected, `${method} ${target}`);
  }
  t.match(classified('POST', '/', {}, { resourceType: 'Bundle', type: 'transaction' }), { interaction: 'transaction' });
  t.match(classified('get', '/Patient/1'), { interaction: 'read', method: 'GET' }, 'method case is normalized');
});

t.test('classifyRequest errors', async (t) => {
  const table: [string, string, number, FhirRequestFacts['headers']?][] = [
    ['GET', '/patient/1', 404],
    ['GET', '/Unknown', 404],
    ['GET', '/Observation/1/Condition', 404],
    ['GET', '/Patient/1/Foo', 404],
    ['GET', '/Patient/1/_history/2/x', 404],
    ['GET', '/Patient/bad%20id', 400],
    ['GET', '/Patient/1/_history/bad%20v', 400],
    ['GET', '/Patient/$bad!op', 400],
    ['POST', '/Patient/1', 405],
    ['PUT', '/Patient', 400],
    ['DELETE', '/Patient', 400],
    ['PATCH', '/Patient', 400],
    ['TRACE', '/Patient', 405],
    ['DELETE', '/', 405],
    ['POST', '/metadata', 405],
    ['GET', '/_search', 405],
    ['POST', '/Patient/1/Observation', 405],
    ['GET', '/Patient/1', 400, { 'x-http-method-override': 'DELETE' }],
    ['GET', '/Patient/1', 400, { 'X-Method-Override': ['PUT'] }],
    ['GET', '/Patient/1?_method=DELETE', 400],
    ['GET', '/Patient/%2e%2e', 400],
  ];
  for (const [method, target, status, headers] of table) {
    const result = classifyRequest(facts(method, target, headers));
    t.equal('error' in result ? result.status : 'classified', status, `${method} ${target}`);
  }
});

t.test('analyzeSearchReach', async (t) => {
  const reach = (query: string) => analyzeSearchReach(new URLSearchParams(query));
  t.same(reach('code=x'), { returned: [], searched: [], pagingToken: false });
  t.same(reach('_include=Observation:patient'), { returned: [{ via: '_include=Observation:patient', resourceType: 'Patient' }], searched: [], pagingToken: false });
  t.match(reach('_include=Observation:subject'), { returned: [{ resourceType: '*' }] }, 'ambiguous target');
  t.match(reach('_include=Observation:subject:Group'), { returned: [{ resourceType: 'Group' }] }, 'typed include');
  t.match(reach('_include:iterate=Encounter:service-provider'), { returned: [{ resourceType: 'Organization' }] });
  t.match(reach('_revinclude=Provenance:target'), { returned: [{ resourceType: 'Provenance' }] });
  t.match(reach('_include=*'), { returned: [{ resourceType: '*' }] });
  t.match(reach('_include=Observation:*'), { returned: [{ resourceType: '*' }] });
  t.match(reach('_include=Observation:patient,Observation:specimen'), { returned: [{ resourceType: 'Patient' }, { resourceType: 'Specimen' }] });
  t.match(reach('subject:Patient.name=x'), { searched: [{ via: 'subject:Patient.name', resourceType: 'Patient' }] });
  t.match(reach('subject.name=x'), { searched: [{ resourceType: '*' }] });
  t.match(reach('patient.organization.name=x'), { searched: [{ resourceType: 'Patient' }, { resourceType: 'Organization' }] });
  t.match(reach('_has:Observation:patient:code=1234-5'), { searched: [{ resourceType: 'Observation' }] });
  t.match(reach('_has:Observation:patient:_has:AuditEvent:entity:agent=x'), { searched: [{ resourceType: 'Observation' }, { resourceType: 'AuditEvent' }] });
  t.match(reach('_filter=name eq x'), { searched: [{ resourceType: '*' }] });
  t.match(reach('_getpages=abc'), { pagingToken: true });
  for (const malformed of ['_include=observation:patient', '_include=Observation', '_include=Observation:subject:Nope', '_has:Nope:patient:code=x', '_has:Observation=x', 'subject:Nope.name=x', '_revinclude=Provenance:target:X:Y']) {
    t.ok('error' in reach(malformed), `malformed: ${malformed}`);
  }
});
