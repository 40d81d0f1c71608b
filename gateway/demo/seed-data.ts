import type { Resource } from '@medplum/fhirtypes';

/** Two patients with a few observations each: enough to see scopes and compartments at work. */
export function demoResources(): Resource[] {
  const patients: Resource[] = [
    { resourceType: 'Patient', id: 'pat-alice', name: [{ given: ['Alice'], family: 'Nguyen' }], gender: 'female', birthDate: '1984-03-12' },
    { resourceType: 'Patient', id: 'pat-bob', name: [{ given: ['Bob'], family: 'Okafor' }], gender: 'male', birthDate: '1979-11-02' },
    { resourceType: 'Patient', id: 'pat-carla', name: [{ given: ['Carla'], family: 'Rossi' }], gender: 'female', birthDate: '1992-07-25' },
  ];
  const vitals = [
    { id: 'obs-alice-hr', patient: 'pat-alice', code: '8867-4', display: 'Heart rate', value: 72, unit: '/min', category: 'vital-signs' },
    { id: 'obs-alice-glucose', patient: 'pat-alice', code: '2339-0', display: 'Glucose', value: 95, unit: 'mg/dL', category: 'laboratory' },
    { id: 'obs-bob-hr', patient: 'pat-bob', code: '8867-4', display: 'Heart rate', value: 88, unit: '/min', category: 'vital-signs' },
    { id: 'obs-bob-chol', patient: 'pat-bob', code: '2093-3', display: 'Cholesterol', value: 210, unit: 'mg/dL', category: 'laboratory' },
    { id: 'obs-carla-temp', patient: 'pat-carla', code: '8310-5', display: 'Body temperature', value: 36.8, unit: 'Cel', category: 'vital-signs' },
  ];
  const observations: Resource[] = vitals.map((v) => ({
    resourceType: 'Observation',
    id: v.id,
    status: 'final',
    category: [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: v.category }] },
    ],
    code: { coding: [{ system: 'http://loinc.org', code: v.code, display: v.display }], text: v.display },
    subject: { reference: `Patient/${v.patient}` },
    effectiveDateTime: '2026-11-01T09:30:00Z',
    valueQuantity: { value: v.value, unit: v.unit, system: 'http://unitsofmeasure.org', code: v.unit },
  }));
  // The demo practitioner (user dr-demo): her fhirUser.
  const practitioner: Resource = { resourceType: 'Practitioner', id: 'pract-demo', name: [{ given: ['Dana'], family: 'Demo', prefix: ['Dr'] }] };
  return [...patients, ...observations, practitioner];
}
