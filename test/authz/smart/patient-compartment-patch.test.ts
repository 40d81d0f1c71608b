import t from 'tap';
import { jsonPatchCompartmentProblem } from '../../../authz/smart/patient-compartment.js';

t.test('a JSON Patch may not move a resource to another patient, however it spells the reference', async (t) => {
  const own = 'p1';
  t.equal(jsonPatchCompartmentProblem([{ op: 'replace', path: '/status', value: 'amended' }], 'Observation', own), undefined, 'unrelated element');
  t.equal(jsonPatchCompartmentProblem([{ op: 'replace', path: '/subject', value: { reference: 'Patient/p1' } }], 'Observation', own), undefined, 'own patient');
  t.type(jsonPatchCompartmentProblem([{ op: 'replace', path: '/subject', value: { reference: 'Patient/other' } }], 'Observation', own), 'string', 'whole Reference to another patient');
  t.type(jsonPatchCompartmentProblem([{ op: 'replace', path: '/subject/reference', value: 'Patient/other' }], 'Observation', own), 'string', 'bare reference string to another patient');
  t.equal(jsonPatchCompartmentProblem([{ op: 'replace', path: '/subject/reference', value: 'Patient/p1' }], 'Observation', own), undefined, 'bare reference string to own patient');
  t.type(jsonPatchCompartmentProblem([{ op: 'remove', path: '/subject' }], 'Observation', own), 'string', 'removing the patient link');
  t.type(jsonPatchCompartmentProblem({ resourceType: 'Parameters' }, 'Observation', own), 'string', 'FHIRPath Patch is refused');
});
