import t from 'tap';
import { decideAccess, type AccessDecision, type ResourceCheck } from '../../../authz/smart/access-decision.js';
import { resourceInPatientCompartment } from '../../../authz/smart/patient-compartment.js';
import { DECISION_CASES, type DecisionCase, type ExpectedCheck } from '../../fixtures/decision-cases.js';

/** The parts of a decision a table row pins down; absent instructions are compared as absent. */
function projectCheck(check: ResourceCheck | undefined): ExpectedCheck | undefined {
  if (check === undefined) return undefined;
  return {
    ...(check.compartmentPatient !== undefined ? { compartmentPatient: check.compartmentPatient } : {}),
    ...(check.granularQuery !== undefined ? { granularQuery: check.granularQuery.toString() } : {}),
  };
}

function project(decision: AccessDecision, row: DecisionCase): unknown {
  if (!decision.allow) {
    return {
      allow: false,
      status: decision.status,
      ...(row.expect.allow === false && row.expect.neededScope !== undefined ? { neededScope: decision.neededScope } : {}),
      ...(row.expect.allow === false && row.expect.deniedEntries !== undefined ? { deniedEntries: (decision.deniedEntries ?? []).map((e) => e.index) } : {}),
    };
  }
  return {
    allow: true,
    addQuery: decision.addQuery,
    needsBody: decision.needsBody === true ? true : undefined,
    checkResponse: projectCheck(decision.checkResponse),
    checkRequestBody: projectCheck(decision.checkRequestBody),
    checkCurrentResource: projectCheck(decision.checkCurrentResource),
    filterIncludes: decision.filterIncludes,
  };
}

function expected(row: DecisionCase): unknown {
  const e = row.expect;
  if (e.allow === false) {
    return {
      allow: false,
      status: e.status,
      ...(e.neededScope !== undefined ? { neededScope: e.neededScope } : {}),
      ...(e.deniedEntries !== undefined ? { deniedEntries: e.deniedEntries } : {}),
    };
  }
  return {
    allow: true,
    addQuery: e.addQuery,
    needsBody: e.needsBody,
    checkResponse: e.checkResponse,
    checkRequestBody: e.checkRequestBody,
    checkCurrentResource: e.checkCurrentResource,
    filterIncludes: e.filterIncludes,
  };
}

t.test('decision table', async (t) => {
  t.ok(DECISION_CASES.length >= 150, `at least 150 cases (have ${DECISION_CASES.length})`);
  const names = new Set(DECISION_CASES.map((row) => row.name));
  t.equal(names.size, DECISION_CASES.length, 'case names are unique');
  for (const row of DECISION_CASES) {
    const queryStart = row.path.indexOf('?');
    const decision = decideAccess(
      {
        method: row.method,
        rawPath: queryStart === -1 ? row.path : row.path.slice(0, queryStart),
        query: new URLSearchParams(queryStart === -1 ? '' : row.path.slice(queryStart + 1)),
        headers: row.headers ?? {},
        ...(row.body !== undefined ? { body: row.body } : {}),
      },
      {
        scope: row.scope,
        ...(row.patient !== undefined ? { patient: row.patient } : {}),
        ...(row.fhirUser !== undefined ? { fhirUser: row.fhirUser } : {}),
      },
      // The table describes a proxy that can filter search responses (issue 12 item 6).
      { filterIncludes: true },
    );
    t.strictSame(project(decision, row), expected(row), `${row.name}: ${decision.reason}`);
    if (!decision.allow) t.ok(decision.reason.length > 0, `${row.name}: a denial explains itself`);
  }
});

t.test('resourceInPatientCompartment', async (t) => {
  t.ok(resourceInPatientCompartment({ resourceType: 'Patient', id: '123' }, '123'), 'the patient itself');
  t.notOk(resourceInPatientCompartment({ resourceType: 'Patient', id: '456' }, '123'), 'another patient');
  t.ok(resourceInPatientCompartment({ resourceType: 'Observation', subject: { reference: 'Patient/123' } }, '123'), 'Observation.subject');
  t.ok(resourceInPatientCompartment({ resourceType: 'Observation', performer: [{ reference: 'Patient/123' }] }, '123'), 'Observation.performer (array)');
  t.notOk(resourceInPatientCompartment({ resourceType: 'Observation', subject: { reference: 'Patient/456' } }, '123'), 'other subject');
  t.notOk(resourceInPatientCompartment({ resourceType: 'Observation', subject: { reference: 'Patient/1234' } }, '123'), 'id prefix is not a match');
  t.notOk(resourceInPatientCompartment({ resourceType: 'Observation', subject: { reference: 'Group/123' } }, '123'), 'same id, other type');
  t.notOk(resourceInPatientCompartment({ resourceType: 'Observation', encounter: { reference: 'Patient/123' } }, '123'), 'a non-compartment element does not count');
  t.ok(resourceInPatientCompartment({ resourceType: 'Observation', subject: { reference: 'Patient/123/_history/2' } }, '123'), 'versioned reference');
  t.notOk(resourceInPatientCompartment({ resourceType: 'Observation', subject: { reference: 'https://other.example/fhir/Patient/123' } }, '123'), 'absolute references are not trusted');
  t.ok(resourceInPatientCompartment({ resourceType: 'Encounter', subject: { reference: 'Patient/123' } }, '123'), 'Encounter.subject');
  t.ok(resourceInPatientCompartment({ resourceType: 'Condition', subject: { reference: 'Patient/123' } }, '123'), 'Condition patient param reads subject');
  t.ok(resourceInPatientCompartment({ resourceType: 'Appointment', participant: [{ actor: { reference: 'Practitioner/9' } }, { actor: { reference: 'Patient/123' } }] }, '123'), 'Appointment.participant.actor');
  t.ok(resourceInPatientCompartment({ resourceType: 'Coverage', policyHolder: { reference: 'Patient/123' } }, '123'), 'Coverage policy-holder -> policyHolder');
  t.ok(resourceInPatientCompartment({ resourceType: 'Task', for: { reference: 'Patient/123' } }, '123'), 'Task patient -> for');
  t.ok(resourceInPatientCompartment({ resourceType: 'AuditEvent', entity: [{ what: { reference: 'Patient/123' } }] }, '123'), 'AuditEvent patient -> entity.what');
  t.ok(resourceInPatientCompartment({ resourceType: 'Group', member: [{ entity: { reference: 'Patient/123' } }] }, '123'), 'Group.member.entity');
  t.ok(resourceInPatientCompartment({ resourceType: 'Medication', id: 'm1' }, '123'), 'Medication is not patient data');
  t.ok(resourceInPatientCompartment({ resourceType: 'Practitioner', id: 'p1' }, '123'), 'Practitioner is not patient data');
  t.notOk(resourceInPatientCompartment({ resourceType: 'Observation' }, '123'), 'patient data without any reference');
  t.notOk(resourceInPatientCompartment({ resourceType: 'NotAType', subject: { reference: 'Patient/123' } }, '123'), 'unknown type');
  t.notOk(resourceInPatientCompartment(null, '123'), 'null');
  t.notOk(resourceInPatientCompartment([{ resourceType: 'Patient', id: '123' }], '123'), 'array');
  t.notOk(resourceInPatientCompartment('Patient/123', '123'), 'string');
});
