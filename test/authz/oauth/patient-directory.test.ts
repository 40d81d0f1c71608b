import t from 'tap';
import { PatientDirectory, patientQueryOf, pickerClaims, type FhirAnswer } from '../../../authz/oauth/patient-directory.js';
import type { SignedInUser } from '../../../authz/oauth/users/users.js';

/**
 * The picker's decisions without a network: a reader that records what would be sent and
 * answers what the test says. (The end-to-end picker, against a real FHIR server through the
 * gateway's upstream connection, is patient-picker.test.ts.)
 */

function reader(answers: Record<string, FhirAnswer> = {}) {
  const sent: string[] = [];
  return {
    sent,
    get: async (pathAndQuery: string): Promise<FhirAnswer> => {
      sent.push(pathAndQuery);
      return answers[pathAndQuery.split('?')[0]!] ?? { ok: true, status: 200, body: { resourceType: 'Bundle', type: 'searchset', entry: [] } };
    },
  };
}

const person = (scope: string): SignedInUser => ({ username: 'dr', scope, fhirUser: 'Practitioner/1' });
const bundle = (...resources: unknown[]) => ({ resourceType: 'Bundle', type: 'searchset', entry: resources.map((resource) => ({ resource })) });
const bob = { resourceType: 'Patient', id: 'pat-bob', name: [{ given: ['Bob', 'J'], family: 'Okafor' }], gender: 'male', birthDate: '1979-11-02', identifier: [{ system: 's' }, { value: 'MRN-2' }] };
const ann = { resourceType: 'Patient', id: 'pat-ann', name: [{ text: 'Ann Lee' }], gender: 'female' };

t.test('the claims the picker decides with: the person’s user/ scopes and fhirUser', async (t) => {
  t.same(pickerClaims(person('user/*.rs patient/*.rs launch/patient')), { scope: 'user/*.rs', fhirUser: 'Practitioner/1' });
  t.same(pickerClaims({ username: 'x', scope: 'patient/*.rs' }), { scope: '' });
});

t.test('search', async (t) => {
  const upstream = reader({ '/Patient': { ok: true, status: 200, body: { ...bundle(bob, ann, { resourceType: 'Observation', id: 'o' }, { resourceType: 'Patient', id: 'bad id' }), link: [{ relation: 'next', url: 'x' }] } } });
  const found = await new PatientDirectory(upstream).search({ name: 'Ok', birthdate: '1979', identifier: 'urn:mrn|MRN-2' }, person('user/*.rs'));
  t.same(upstream.sent, ['/Patient?name=Ok&birthdate=1979&identifier=urn%3Amrn%7CMRN-2&_count=20']);
  t.same(found, {
    ok: true,
    patients: [
      { id: 'pat-bob', name: 'Bob J Okafor', birthDate: '1979-11-02', gender: 'male', identifier: 'MRN-2' },
      { id: 'pat-ann', name: 'Ann Lee', gender: 'female' },
    ],
    more: true,
  }, 'Patients only, with usable ids; a next link means more');
});

t.test('what the person may not search is not sent', async (t) => {
  const upstream = reader();
  const refused = await new PatientDirectory(upstream).search({ name: 'x' }, person('user/Observation.rs patient/*.rs'));
  t.same(refused, { ok: false, reason: 'not-allowed', message: 'Your access does not include finding patient records (it needs user/Patient.s).' });
  const read = await new PatientDirectory(upstream).read('pat-bob', person('user/Observation.rs'));
  t.match(read, { ok: false, reason: 'not-allowed' });
  t.same(upstream.sent, [], 'nothing reached the FHIR server');
});

t.test('a granular scope goes into the search and filters what comes back', async (t) => {
  const upstream = reader({ '/Patient': { ok: true, status: 200, body: bundle(ann, bob) } });
  const directory = new PatientDirectory(upstream);
  const found = await directory.search({ name: 'e' }, person('user/Patient.rs?gender=female'));
  t.same(upstream.sent, ['/Patient?name=e&_count=20&gender=female']);
  t.same(found.ok && found.patients.map((p) => p.id), ['pat-ann'], 'a male patient the server sent anyway is left out');

  const reads = reader({ '/Patient/pat-bob': { ok: true, status: 200, body: bob }, '/Patient/pat-ann': { ok: true, status: 200, body: ann } });
  t.match(await new PatientDirectory(reads).read('pat-bob', person('user/Patient.rs?gender=female')), { ok: false, reason: 'not-allowed' });
  t.match(await new PatientDirectory(reads).read('pat-ann', person('user/Patient.rs?gender=female')), { ok: true, patient: { id: 'pat-ann' } });
});

t.test('read: the chosen id is checked against what the server holds', async (t) => {
  const upstream = reader({
    '/Patient/pat-bob': { ok: true, status: 200, body: bob },
    '/Patient/gone': { ok: true, status: 404, body: undefined },
    '/Patient/other': { ok: true, status: 200, body: { ...bob, id: 'pat-bob' } },
    '/Patient/broken': { ok: true, status: 500, body: undefined },
    '/Patient/down': { ok: false, problem: 'it could not be reached' },
  });
  const directory = new PatientDirectory(upstream);
  const everyone = person('user/*.rs');
  t.match(await directory.read('pat-bob', everyone), { ok: true, patient: { id: 'pat-bob', name: 'Bob J Okafor' } });
  t.match(await directory.read('gone', everyone), { ok: false, reason: 'not-found' });
  t.match(await directory.read('other', everyone), { ok: false, reason: 'upstream' }, 'another resource than the one asked for');
  t.match(await directory.read('broken', everyone), { ok: false, reason: 'upstream', message: /it answered 500/ });
  t.match(await directory.read('down', everyone), { ok: false, reason: 'upstream', message: /could not be reached/ });
  const sentBefore = upstream.sent.length;
  for (const forged of ['', 'a b', '../x', 'x'.repeat(65), 'Patient/pat-bob']) {
    t.match(await directory.read(forged, everyone), { ok: false, reason: 'not-found' }, JSON.stringify(forged));
  }
  t.equal(upstream.sent.length, sentBefore, 'malformed ids are not sent');
});

t.test('search: an unusable answer', async (t) => {
  for (const answer of [{ ok: false, problem: 'it did not answer in time' }, { ok: true, status: 200, body: { resourceType: 'Patient' } }, { ok: true, status: 400, body: undefined }] as FhirAnswer[]) {
    const found = await new PatientDirectory(reader({ '/Patient': answer })).search({ name: 'x' }, person('user/*.rs'));
    t.match(found, { ok: false, reason: 'upstream' });
  }
});

t.test('the search form', async (t) => {
  t.same(patientQueryOf({ name: '  Okafor ', birthdate: '', identifier: undefined }), { ok: true, query: { name: 'Okafor' } });
  t.same(patientQueryOf({ birthdate: '1979-11' }), { ok: true, query: { birthdate: '1979-11' } });
  t.match(patientQueryOf({}), { ok: false, message: /Enter a name, a birth date or an identifier/ });
  t.match(patientQueryOf({ birthdate: '02/11/1979' }), { ok: false, message: /YYYY-MM-DD/ });
  t.match(patientQueryOf({ name: 'x'.repeat(101) }), { ok: false, message: /longer than 100/ });
});
