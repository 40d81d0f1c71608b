import t from 'tap';
import { decideAccess, type AccessDecision, type IncludeFilter } from '../../../authz/smart/access-decision.js';
import type { ScopeClaims } from '../../../authz/smart/token-claims.js';
import { withholdUnreadableIncludes } from '../../../authz/smart/withheld-includes.js';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';

/**
 * Issue 12, item 6: `Observation?subject=Patient/x&_include=Observation:subject` with
 * `system/Observation.rs system/Patient.rs` was refused ("needs system/*.r") because `subject`
 * may also point at Group, Device or Location. The decision now allows it when some possible
 * target is readable and asks for the response to be filtered (`filterIncludes`);
 * withholdUnreadableIncludes does the filtering. Here the parts are driven directly (the
 * decision, a real Medplum upstream's search Bundle, the filter); the proxy that carries the
 * instruction out is tested through the CLI in test/gateway/proxy/untyped-include.test.ts.
 */

const systemToken: ScopeClaims = { scope: 'system/Observation.rs system/Patient.rs' };
const search = (query: string) => ({ method: 'GET', rawPath: '/Observation', query: new URLSearchParams(query), headers: {} });
const filterOf = (decision: AccessDecision): IncludeFilter => {
  if (!decision.allow || decision.filterIncludes === undefined) throw new Error(`expected an allow with filterIncludes: ${JSON.stringify(decision)}`);
  return decision.filterIncludes;
};

t.test('the decision: allowed with filterIncludes only for a caller that can filter', async (t) => {
  const query = 'subject=Patient/x&_include=Observation:subject';
  const capable = decideAccess(search(query), systemToken, { filterIncludes: true });
  t.match(capable, { allow: true, filterIncludes: { readableTypes: ['Observation', 'Patient'] } }, 'allowed, with the types the response may keep');

  const incapable = decideAccess(search(query), systemToken);
  t.match(incapable, { allow: false, status: 403, neededScope: 'system/*.r' }, 'a caller that cannot filter gets the old refusal (fail closed)');
  t.match((incapable as { reason: string }).reason, /Device, Group, Location, Patient/, 'naming the types the include may reach');

  const none = decideAccess(search(query), { ...systemToken, scope: 'system/Observation.rs' }, { filterIncludes: true });
  t.match(none, { allow: false, status: 403, neededScope: 'system/*.r' }, 'no readable target: still refused');
  t.match((none as { reason: string }).reason, /none of which this token can read/);

  const chained = decideAccess(search('subject.name=peter&_include=Observation:subject'), systemToken, { filterIncludes: true });
  t.match(chained, { allow: false, status: 403, neededScope: 'system/*.s' }, 'a chain through unreadable types stays refused');
  const reverse = decideAccess(
    { method: 'GET', rawPath: '/Patient', query: new URLSearchParams('_has:Group:member:code=x&_include=Patient:general-practitioner'), headers: {} },
    { ...systemToken, scope: 'system/Patient.rs system/Practitioner.r' },
    { filterIncludes: true },
  );
  t.match(reverse, { allow: false, status: 403, neededScope: 'system/Group.s' }, '_has through an unreadable type stays refused');
});

t.test('withholdUnreadableIncludes', async (t) => {
  const filter: IncludeFilter = { readableTypes: ['Observation', 'Patient'] };
  const entry = (resourceType: string, id: string, mode?: string) => ({
    fullUrl: `https://fhir.example.org/${resourceType}/${id}`,
    resource: { resourceType, id },
    ...(mode !== undefined ? { search: { mode } } : {}),
  });
  const bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    total: 3,
    link: [{ relation: 'self', url: 'https://fhir.example.org/Observation?_include=Observation:subject' }],
    entry: [
      entry('Observation', 'o1', 'match'),
      entry('Observation', 'o2', 'match'),
      entry('Observation', 'o3', 'match'),
      entry('Patient', 'p1', 'include'),
      entry('Group', 'g1', 'include'),
      entry('Device', 'd1', 'include'),
      entry('Group', 'g2', 'include'),
      entry('OperationOutcome', 'oo', 'outcome'),
    ],
  };
  const frozen = structuredClone(bundle);
  const result = withholdUnreadableIncludes(bundle, filter);
  t.same(bundle, frozen, 'the input is not modified');
  t.same(result.withheld, [
    { resourceType: 'Device', count: 1 },
    { resourceType: 'Group', count: 2 },
  ]);
  const out = result.body as typeof bundle & { entry: Record<string, any>[] };
  t.same(
    out.entry.map((e) => `${e.resource.resourceType}/${e.resource.id ?? '-'}:${e.search?.mode}`),
    ['Observation/o1:match', 'Observation/o2:match', 'Observation/o3:match', 'Patient/p1:include', 'OperationOutcome/oo:outcome', 'OperationOutcome/-:outcome'],
    'matches, readable includes and outcomes stay; one outcome entry is added',
  );
  t.same(out.entry.at(-1), {
    resource: {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'warning', code: 'suppressed', diagnostics: 'Withheld 3 included resources of a type the access token may not read: 1 Device, 2 Group' }],
    },
    search: { mode: 'outcome' },
  });
  t.equal(out.total, 3, 'total (matches) unchanged');
  t.same(out.link, bundle.link, 'links unchanged');

  const clean = { ...bundle, entry: bundle.entry.filter((e) => e.resource.resourceType !== 'Group' && e.resource.resourceType !== 'Device') };
  const untouched = withholdUnreadableIncludes(clean, filter);
  t.equal(untouched.body, clean, 'nothing to withhold: the very same object back');
  t.same(untouched.withheld, []);

  const unmarked = withholdUnreadableIncludes({ resourceType: 'Bundle', type: 'searchset', entry: [entry('Observation', 'o1'), entry('Group', 'g1'), entry('Location', 'l1', 'bogus'), { search: { mode: 'include' } }] }, filter);
  t.same(
    (unmarked.body as { entry: Record<string, any>[] }).entry.map((e) => e.resource.resourceType),
    ['Observation', 'OperationOutcome'],
    'no mode or an unknown mode counts as an include (fail closed); an include without a resource is dropped',
  );
  t.same(unmarked.withheld, [
    { resourceType: '(no resource type)', count: 1 },
    { resourceType: 'Group', count: 1 },
    { resourceType: 'Location', count: 1 },
  ]);

  for (const other of [
    { resourceType: 'Observation', id: 'o1' },
    { resourceType: 'Bundle', type: 'history', entry: [entry('Group', 'g1')] },
    { resourceType: 'Bundle', type: 'searchset' },
    { resourceType: 'OperationOutcome', issue: [] },
    null,
    'text',
  ]) {
    const passed = withholdUnreadableIncludes(other, filter);
    t.equal(passed.body, other, `passes unchanged: ${JSON.stringify(other)}`);
  }
});

t.test('a real Medplum search Bundle, decided and filtered', async (t) => {
  // The demo upstream (Medplum's FHIR router on its memory repository) answers the search but
  // neither processes _include nor marks search.mode, so this shows the other half: matches of
  // an upstream that marks nothing survive the fail-closed reading of a missing mode, because
  // the searched type is always among readableTypes. Include-mode filtering is shown above.
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([
    { resourceType: 'Patient', id: 'p1' },
    { resourceType: 'Group', id: 'g1', type: 'person', actual: true },
    { resourceType: 'Device', id: 'd1' },
    { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'hr' }, subject: { reference: 'Patient/p1' } },
    { resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 'hr' }, subject: { reference: 'Group/g1' } },
    { resourceType: 'Observation', id: 'o3', status: 'final', code: { text: 'hr' }, subject: { reference: 'Device/d1' } },
  ] as never);
  const query = '_include=Observation:subject';
  const filter = filterOf(decideAccess(search(query), systemToken, { filterIncludes: true }));
  t.same(filter.readableTypes, ['Observation', 'Patient']);

  const res = await fetch(`${upstream.baseUrl}/Observation?${query}`);
  t.equal(res.status, 200);
  const bundle = (await res.json()) as { type: string; entry: { resource: { resourceType: string; id?: string }; search?: unknown }[] };
  t.equal(bundle.type, 'searchset');
  t.ok(bundle.entry.every((e) => e.search === undefined), 'this upstream marks no search.mode');

  const { body, withheld } = withholdUnreadableIncludes(bundle, filter);
  t.equal(body, bundle, 'nothing withheld: the same Bundle goes on');
  t.same(withheld, []);
  t.same(bundle.entry.map((e) => e.resource.id).sort(), ['o1', 'o2', 'o3'], 'every match is there');
});
