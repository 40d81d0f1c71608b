import t from 'tap';
import { coverage, formatScope, isScopeSubset, parseScope, parseScopes, ScopeSyntaxError, honouredScopes, type ResourceScope } from '../../../authz/smart/scopes.js';

function resource(raw: string): ResourceScope {
  const parsed = parseScope(raw);
  if ('special' in parsed) throw new Error(`${raw} parsed as special`);
  return parsed;
}

const perms = (raw: string) => [...resource(raw).permissions].sort().join('');

t.test('v1 resource scopes map to v2 permissions', async (t) => {
  t.equal(perms('patient/Observation.read'), 'rs');
  t.equal(perms('user/Patient.write'), 'cdu');
  t.equal(perms('system/*.*'), 'cdrsu');
  const scope = resource('patient/*.read');
  t.equal(scope.context, 'patient');
  t.equal(scope.resourceType, '*');
  t.equal(scope.raw, 'patient/*.read');
  t.equal(scope.query, undefined);
});

t.test('v2 permissions in canonical order', async (t) => {
  t.equal(perms('patient/Observation.rs'), 'rs');
  t.equal(perms('user/*.cruds'), 'cdrsu');
  t.equal(perms('system/Patient.c'), 'c');
  t.equal(perms('system/Patient.cd'), 'cd');
  for (const wrong of ['patient/Observation.sr', 'user/Patient.rr', 'user/Patient.dc', 'user/Patient.x', 'user/Patient.', 'user/Patient.R', 'user/Patient.reads']) {
    t.throws(() => parseScope(wrong), ScopeSyntaxError, `${wrong} is rejected`);
  }
});

t.test('granular v2 scopes', async (t) => {
  const scope = resource('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory');
  t.equal(scope.query?.get('category'), 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory');
  const two = resource('user/Condition.rs?category=problem-list-item&clinical-status=active');
  t.same([...(two.query ?? [])], [
    ['category', 'problem-list-item'],
    ['clinical-status', 'active'],
  ]);
  t.throws(() => parseScope('patient/Observation.read?category=x'), ScopeSyntaxError, 'v1 permissions cannot be granular');
  t.throws(() => parseScope('patient/Observation.rs?'), ScopeSyntaxError, 'empty query');
  t.throws(() => parseScope('patient/Observation.rs?category'), ScopeSyntaxError, 'name without value');
  t.throws(() => parseScope('patient/Observation.rs?=x'), ScopeSyntaxError, 'value without name');
});

t.test('special scopes', async (t) => {
  for (const special of ['openid', 'fhirUser', 'profile', 'launch', 'launch/patient', 'launch/encounter', 'offline_access', 'online_access']) {
    t.same(parseScope(special), { special }, special);
  }
});

t.test('everything else is a ScopeSyntaxError naming the scope', async (t) => {
  for (const wrong of ['patient/observation.read', 'patient/Foo.read', 'admin/Patient.read', 'patient/Patient', 'launch/practitioner', 'OPENID', 'patient/*', '/Patient.read', 'patient/Patient.read ', 'email']) {
    const error = t.throws(() => parseScope(wrong)) as unknown;
    t.ok(error instanceof ScopeSyntaxError, `${JSON.stringify(wrong)} -> ScopeSyntaxError`);
    if (error instanceof ScopeSyntaxError) t.equal(error.scope, wrong);
  }
});

t.test('parseScopes splits, classifies and names the first bad scope', async (t) => {
  const parsed = parseScopes('openid fhirUser  launch/patient patient/Observation.rs patient/Patient.read offline_access');
  t.same(parsed.other, ['openid', 'fhirUser', 'launch/patient', 'offline_access']);
  t.same(
    parsed.resourceScopes.map((s) => s.raw),
    ['patient/Observation.rs', 'patient/Patient.read'],
  );
  t.same(parseScopes(''), { resourceScopes: [], other: [] });
  const error = t.throws(() => parseScopes('openid patient/Observation.sr patient/Bad.rs')) as unknown;
  t.ok(error instanceof ScopeSyntaxError && error.scope === 'patient/Observation.sr', 'first bad scope named');
});

t.test('formatScope writes v2 syntax in canonical order', async (t) => {
  t.equal(formatScope('system', 'Observation', ['s', 'r']), 'system/Observation.rs');
  t.equal(formatScope('user', '*', ['d', 'c', 'u', 's', 'r']), 'user/*.cruds');
});

t.test('isScopeSubset', async (t) => {
  const cases: [string, string, boolean][] = [
    ['system/Patient.r', 'system/*.rs', true],
    ['system/Patient.rs', 'system/*.rs', true],
    ['system/Patient.rs', 'system/*.read', true],
    ['system/Patient.read', 'system/Patient.rs', true],
    ['system/Patient.rs', 'system/Patient.read', true],
    ['system/Patient.cud', 'system/Patient.write', true],
    ['system/Patient.write', 'system/Patient.cud', true],
    ['system/Patient.*', 'system/Patient.cruds', true],
    ['system/Patient.cruds', 'system/Patient.*', true],
    ['system/Patient.c', 'system/Patient.read', false],
    ['system/Patient.rs', 'system/Patient.r', false],
    ['system/Patient.rs', 'user/Patient.rs', false],
    ['patient/Patient.rs', 'user/*.cruds', false],
    ['system/*.rs', 'system/Patient.rs', false],
    ['patient/Observation.rs?category=x', 'patient/Observation.rs', true],
    ['patient/Observation.rs?category=x', 'patient/*.rs', true],
    ['patient/Observation.rs', 'patient/Observation.rs?category=x', false],
    ['patient/Observation.rs?category=x', 'patient/Observation.rs?category=y', false],
    ['patient/Observation.rs?category=x&code=1', 'patient/Observation.rs?category=x', true],
    ['patient/Observation.rs', 'patient/Observation.r patient/Observation.s', true],
    ['openid fhirUser patient/Patient.r', 'openid fhirUser launch patient/*.rs', true],
    ['openid offline_access', 'openid', false],
    ['launch/patient', 'launch', false],
    ['', 'system/*.rs', true],
    ['system/Observation.rs system/Patient.c', 'system/*.rs', false],
  ];
  for (const [requested, allowed, expected] of cases) {
    t.equal(isScopeSubset(requested, allowed), expected, `"${requested}" within "${allowed}"`);
  }
  t.throws(() => isScopeSubset('patient/Observation.sr', 'patient/*.rs'), ScopeSyntaxError, 'malformed requested scope');
});

t.test('honouredScopes honours scopes by token kind', async (t) => {
  const backend = honouredScopes({ scope: 'system/*.rs patient/Patient.r user/Observation.r openid' });
  t.same(backend.scopes.map((s) => s.raw), ['system/*.rs', 'user/Observation.r'], 'patient/ needs a patient in context');
  t.equal(backend.context, 'user');
  t.match(backend.notes, [/patient/]);

  const userToken = honouredScopes({ scope: 'system/*.rs user/Patient.rs', fhirUser: 'Practitioner/1' });
  t.same(userToken.scopes.map((s) => s.raw), ['user/Patient.rs'], 'system/ is for backend tokens only');
  t.match(userToken.notes, [/system/]);

  const patientToken = honouredScopes({ scope: 'patient/*.rs system/*.rs launch/patient', patient: '123' });
  t.same(patientToken.scopes.map((s) => s.raw), ['patient/*.rs']);
  t.equal(patientToken.patient, '123');
  t.equal(patientToken.context, 'patient');

  t.same(honouredScopes({ scope: 'patient/Observation.sr system/Patient.rs' }).scopes.map((s) => s.raw), ['system/Patient.rs'], 'a malformed scope is skipped');
  t.equal(honouredScopes({ scope: '' }).context, 'system', 'no scopes, no user: backend');
  t.equal(honouredScopes({ scope: '', fhirUser: 'Practitioner/1' }).context, 'user');
});

t.test('coverage picks the least restrictive scope per permission', async (t) => {
  const none = new URLSearchParams();
  const honoured = honouredScopes({ scope: 'patient/Observation.rs user/Observation.r user/Condition.rs?category=problem-list-item', patient: '123', fhirUser: 'Patient/123' });
  t.same(coverage(honoured, 'Observation', ['r'], none), { granular: [] }, 'user/ read is unconfined');
  t.same(coverage(honoured, 'Observation', ['s'], none), { confinedTo: '123', granular: [] }, 'search only through patient/');
  t.same(coverage(honoured, 'Observation', ['c'], none), undefined, 'not granted');
  const granular = coverage(honoured, 'Condition', ['r', 's'], none);
  t.same(granular?.granular.map(String), ['category=problem-list-item'], 'restriction listed once');
  t.same(coverage(honoured, 'Condition', ['s'], new URLSearchParams('category=problem-list-item&code=x')), { granular: [] }, 'restriction already stated');
  t.same(coverage(honoured, '*', ['r'], none), undefined, "a typed scope does not grant '*'");
  t.same(coverage(honouredScopes({ scope: 'system/*.cruds' }), '*', ['c', 'd'], none), { granular: [] });
});
