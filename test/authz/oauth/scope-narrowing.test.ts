import t, { type Test } from 'tap';
import { OAuthError } from '../../../authz/oauth/oauth-error.js';
import { capScopeForUser, clientScopeForUserFlow, clientCredentialsScope, narrowRefreshScope } from '../../../authz/oauth/scope-narrowing.js';
import type { SignedInUser } from '../../../authz/oauth/users/users.js';

const CLIENT = 'openid fhirUser launch/patient offline_access patient/*.cruds user/*.rs system/*.rs';
const patientUser: SignedInUser = { username: 'alice', patient: '456', fhirUser: 'Patient/456', scope: 'patient/*.rs patient/Observation.cruds' };
const clinician: SignedInUser = { username: 'bob', fhirUser: 'Practitioner/1', scope: 'user/*.rs' };

function refusal(t: Test, action: () => unknown, pattern: RegExp, message: string) {
  const err = t.throws(action, message) as OAuthError;
  t.equal(err.error, 'invalid_scope', `${message}: invalid_scope`);
  t.match(err.description, pattern, `${message}: says why`);
}


t.test('user flows: checked against the client before anyone signs in', async (t) => {
  t.equal(clientScopeForUserFlow('openid  patient/Patient.rs openid', CLIENT), 'openid patient/Patient.rs', 'normalized, duplicates dropped');
  refusal(t, () => clientScopeForUserFlow(undefined, CLIENT), /required/, 'no scope');
  refusal(t, () => clientScopeForUserFlow('patient/Patient.rs user/Patient.rs', CLIENT), /mix patient\/, user\//, 'patient/ + user/');
  refusal(t, () => clientScopeForUserFlow('system/Patient.rs', CLIENT), /client_credentials/, 'system/ in a user flow');
  refusal(t, () => clientScopeForUserFlow('patient/Patient.rs launch', CLIENT), /not allowed for this client/, 'beyond the client');
  refusal(t, () => clientScopeForUserFlow('patient/Nope.rs', CLIENT), /Malformed/, 'malformed');
});

t.test('client credentials may not mix contexts either', async (t) => {
  refusal(t, () => clientCredentialsScope('system/Patient.rs user/Patient.rs', CLIENT), /mix/, 'system/ + user/');
  t.equal(clientCredentialsScope(undefined, 'system/*.rs'), 'system/*.rs');
});

t.test("the user's scope caps what is granted, permission by permission", async (t) => {
  t.equal(capScopeForUser('launch/patient patient/Patient.rs', patientUser), 'launch/patient patient/Patient.rs', 'covered as asked');
  t.equal(capScopeForUser('patient/Patient.cruds', patientUser), 'patient/Patient.rs', 'narrowed to what the user has');
  t.equal(capScopeForUser('patient/Observation.cruds', patientUser), 'patient/Observation.cruds', 'a more specific user scope counts');
  t.equal(capScopeForUser('patient/*.write patient/Patient.read', patientUser), 'patient/Patient.read', 'a scope with nothing left is dropped');
  refusal(t, () => capScopeForUser('patient/Patient.d', patientUser), /cannot grant/, 'nothing left at all');
  refusal(t, () => capScopeForUser('patient/Patient.rs', clinician), /cannot grant/, 'patient/ without a patient');
  t.equal(capScopeForUser('openid fhirUser launch/patient user/Patient.rs', clinician), 'openid fhirUser user/Patient.rs', 'no patient context to launch with');
  t.equal(capScopeForUser('openid fhirUser', { username: 'x', scope: 'user/*.rs' }), 'openid', 'fhirUser needs a FHIR identity');
});

t.test('a refresh may narrow, never widen', async (t) => {
  t.equal(narrowRefreshScope(undefined, 'offline_access patient/*.rs'), 'offline_access patient/*.rs');
  t.equal(narrowRefreshScope('patient/Patient.r', 'offline_access patient/*.rs'), 'patient/Patient.r');
  refusal(t, () => narrowRefreshScope('patient/*.cruds', 'offline_access patient/*.rs'), /original grant/, 'wider permissions');
  refusal(t, () => narrowRefreshScope('openid', 'offline_access patient/*.rs'), /original grant/, 'a new special scope');
});
