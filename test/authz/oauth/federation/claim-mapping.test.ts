import t from 'tap';
import { parseConfig } from '../../../../config/loader.js';
import type { IdentityProviderConfig } from '../../../../config/types.js';
import { mapClaims } from '../../../../authz/oauth/federation/claim-mapping.js';
import { federatedSignedInUser, personKey } from '../../../../authz/oauth/federation/federated-person.js';

/** A provider entry as the loader makes it (defaults applied, rules checked). */
function provider(entry: Record<string, unknown>): IdentityProviderConfig {
  const raw = {
    server: { public_url: 'https://gw.example.org/fhir' },
    upstream: { url: 'http://fhir.internal/fhir' },
    identity_providers: [{ id: 'sso', name: 'SSO', issuer: 'https://sso.example.org', client_id: 'gw', client_secret: 's', fhir_user: 'Practitioner/{employee_id}', ...entry }],
  };
  return parseConfig(JSON.stringify(raw), 'test.yaml', {}).identity_providers![0]!;
}

t.test('fhir_user: a template over the claims, or a claim as is', async (t) => {
  const staff = provider({ resource_scope: 'user/*.rs' });
  t.same(mapClaims(staff, { sub: 'x', employee_id: 'E123' }), { ok: true, fhirUser: 'Practitioner/E123', resourceScope: 'user/*.rs' });
  t.same(mapClaims(staff, { sub: 'x', employee_id: 4711 }), { ok: true, fhirUser: 'Practitioner/4711', resourceScope: 'user/*.rs' }, 'a whole number claim');

  const asIs = provider({ fhir_user: '{fhirUser}', resource_scope: 'user/*.rs' });
  t.same(mapClaims(asIs, { fhirUser: 'PractitionerRole/r-9' }), { ok: true, fhirUser: 'PractitionerRole/r-9', resourceScope: 'user/*.rs' });

  const namespaced = provider({ fhir_user: 'Practitioner/{https://example.org/claims/employee_id}', resource_scope: 'user/*.rs' });
  t.same(mapClaims(namespaced, { 'https://example.org/claims/employee_id': 'E1' }).ok, true, 'namespaced claim names');
});

t.test('a claim the template needs is missing or unusable: unmapped, naming the claim and never its value', async (t) => {
  const staff = provider({ resource_scope: 'user/*.rs' });
  for (const [claims, label] of [
    [{}, 'absent'],
    [{ employee_id: '' }, 'empty'],
    [{ employee_id: ['E1'] }, 'a list'],
    [{ employee_id: { id: 'E1' } }, 'an object'],
    [{ employee_id: -1 }, 'a negative number'],
    [{ employee_id: 1.5 }, 'a fraction'],
    [{ employee_id: true }, 'a boolean'],
  ] as const) {
    t.same(
      mapClaims(staff, claims),
      { ok: false, description: 'the ID token has no usable employee_id claim, which identity provider sso needs for fhir_user' },
      label,
    );
  }
  t.same(mapClaims(staff, Object.create({ employee_id: 'inherited' }) as Record<string, unknown>).ok, false, 'only own properties count');

  for (const value of ['E1/../Patient/x', 'E 1', 'x'.repeat(65)]) {
    const mapped = mapClaims(staff, { employee_id: value });
    t.same(mapped, { ok: false, description: 'the fhir_user template of identity provider sso does not give a FHIR reference such as Practitioner/123 for this person' }, value);
  }
  const asIs = provider({ fhir_user: '{fhirUser}', resource_scope: 'user/*.rs' });
  t.equal(mapClaims(asIs, { fhirUser: 'https://ehr.example.org/fhir/Practitioner/1' }).ok, false, 'an absolute URL is not taken as this server’s reference');
  t.equal(mapClaims(asIs, { fhirUser: 'Device/1' }).ok, false, 'a type that cannot be a fhirUser');
});

t.test('patient: a fixed patient when the claim is there, none when it is not, refused when it is malformed', async (t) => {
  const mixed = provider({ patient: '{patient_id}', fhir_user: '{fhirUser}', resource_scope: 'patient/*.rs' });
  t.same(mapClaims(mixed, { fhirUser: 'Patient/p-1', patient_id: 'p-1' }), { ok: true, fhirUser: 'Patient/p-1', patient: 'p-1', resourceScope: 'patient/*.rs' });
  t.same(mapClaims(mixed, { fhirUser: 'Practitioner/d-1' }), { ok: true, fhirUser: 'Practitioner/d-1', resourceScope: 'patient/*.rs' }, 'staff on the same provider');
  t.same(mapClaims(mixed, { fhirUser: 'Patient/p-1', patient_id: 'Patient/p-1' }), {
    ok: true,
    fhirUser: 'Patient/p-1',
    patient: 'p-1',
    resourceScope: 'patient/*.rs',
  }, 'a claim holding a reference gives the bare id');
  t.same(mapClaims(mixed, { fhirUser: 'Patient/p-1', patient_id: '../admin' }), {
    ok: false,
    description: 'the patient template of identity provider sso does not give a Patient id for this person',
  });
  const prefixed = provider({ patient: 'Patient/mrn-{mrn}', resource_scope: 'patient/*.rs' });
  t.same(mapClaims(prefixed, { employee_id: 'E', mrn: 42 }), { ok: true, fhirUser: 'Practitioner/E', patient: 'mrn-42', resourceScope: 'patient/*.rs' });
});

t.test('resource scope: resource_scope and the scopes of every matching claim value, each once', async (t) => {
  const byGroup = provider({
    resource_scope: 'user/Patient.rs',
    resource_scope_by_claim: { claim: 'groups', values: { clinicians: 'user/*.rs patient/*.rs', pharmacists: 'user/MedicationRequest.cruds user/Patient.rs' } },
  });
  const scopeOf = (claims: Record<string, unknown>) => {
    const mapped = mapClaims(byGroup, { employee_id: 'E', ...claims });
    return mapped.ok ? mapped.resourceScope : undefined;
  };
  t.equal(scopeOf({}), 'user/Patient.rs', 'no claim: the base scope');
  t.equal(scopeOf({ groups: ['clinicians'] }), 'user/Patient.rs user/*.rs patient/*.rs');
  t.equal(scopeOf({ groups: 'pharmacists' }), 'user/Patient.rs user/MedicationRequest.cruds', 'a string claim; a scope already present is not repeated');
  t.equal(scopeOf({ groups: ['pharmacists', 'clinicians', 'janitors'] }), 'user/Patient.rs user/*.rs patient/*.rs user/MedicationRequest.cruds', 'config order, unknown values ignored');
  t.equal(scopeOf({ groups: { clinicians: true } }), 'user/Patient.rs', 'a claim of another shape adds nothing');
  t.equal(scopeOf({ groups: [['clinicians']] }), 'user/Patient.rs', 'nested lists add nothing');

  const onlyByClaim = provider({ resource_scope_by_claim: { claim: 'roles', values: { doctor: 'user/*.rs' } } });
  const none = mapClaims(onlyByClaim, { employee_id: 'E' });
  t.same(none, { ok: true, fhirUser: 'Practitioner/E', resourceScope: '' }, 'nobody is refused for having no group: they may grant nothing');
});

t.test('person key: issuer + subject, nothing else', async (t) => {
  const key = personKey('https://sso.example.org', 'abc');
  t.match(key, /^fed-[A-Za-z0-9_-]{43}$/);
  t.equal(personKey('https://sso.example.org', 'abc'), key, 'stable');
  t.not(personKey('https://other.example.org', 'abc'), key, 'another issuer, another person');
  t.not(personKey('https://sso.example.org', 'abd'), key);
  t.not(personKey('https://sso.example.org/a', 'bc'), personKey('https://sso.example.org/ab', 'c'), 'no ambiguity at the seam');
  t.same(
    federatedSignedInUser({ key, providerId: 'sso', issuer: 'i', subject: 's', fhirUser: 'Practitioner/1', patient: 'p', resourceScope: 'user/*.rs', authTime: 1 }),
    { username: key, fhirUser: 'Practitioner/1', patient: 'p', scope: 'user/*.rs', providerId: 'sso' },
  );
});
