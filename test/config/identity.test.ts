import t from 'tap';
import { fileURLToPath } from 'node:url';
import { parseClaimTemplate, sampleClaimTemplate } from '../../config/claim-templates.js';
import { ConfigError, loadConfigFile, parseConfig } from '../../config/loader.js';

/** Issue 10's configuration: identity_providers[], clients[].launch_uri / creates_launches, tokens.launch_ttl. */

const EXAMPLE = fileURLToPath(new URL('../../config/examples/gateway.yaml', import.meta.url));

const BASE = `
server:
  public_url: https://gw.example.org/fhir
upstream:
  url: http://fhir.internal/fhir
`;

/** A valid provider as a flow mapping, with `overrides` (YAML `key: value` pairs) appended. */
const provider = (overrides = '') =>
  `{id: hospital-sso, name: Hospital SSO, issuer: "https://sso.example.org/realms/hospital", client_id: fhir-gateway, client_secret: s3cret, fhir_user: "Practitioner/{employee_id}", resource_scope: "user/*.rs"${overrides ? `, ${overrides}` : ''}}`;

const withProviders = (...providers: string[]) => `${BASE}identity_providers:\n${providers.map((p) => `  - ${p}\n`).join('')}`;

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'gateway.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError, but none was thrown');
}

t.test('a provider with only the required keys gets its defaults', async (t) => {
  const config = parseConfig(withProviders(provider()), 'g.yaml', {});
  t.same(config.identity_providers, [
    {
      id: 'hospital-sso',
      name: 'Hospital SSO',
      issuer: 'https://sso.example.org/realms/hospital',
      client_id: 'fhir-gateway',
      client_secret: 's3cret',
      fhir_user: 'Practitioner/{employee_id}',
      resource_scope: 'user/*.rs',
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid',
      allow_http: false,
    },
  ]);
  t.equal(parseConfig(BASE, 'g.yaml', {}).identity_providers, undefined, 'no section: no provider, and no key in the loaded config');
  t.throws(() => {
    (config.identity_providers![0] as { issuer: string }).issuer = 'https://evil.example';
  }, TypeError, 'frozen like the rest of the config');
});

t.test('every key of the issue, including private_key_jwt and claim rules', async (t) => {
  const config = parseConfig(
    withProviders(
      provider('scope: "openid profile email", patient: "{patient_id}", resource_scope_by_claim: {claim: groups, values: {clinicians: "user/*.rs patient/*.rs", pharmacists: "user/MedicationRequest.cruds"}}'),
      '{id: local-idp, name: Local, issuer: "http://127.0.0.1:9999", allow_http: true, client_id: gw, token_endpoint_auth_method: private_key_jwt, signing_key_file: /run/secrets/idp.jwk, fhir_user: "{fhirUser}", patient: "Patient/{patient_id}", resource_scope_by_claim: {claim: roles, values: {doctor: "user/*.rs"}}}',
    ),
    'g.yaml',
    {},
  );
  const [sso, local] = config.identity_providers!;
  t.equal(sso!.scope, 'openid profile email');
  t.equal(sso!.patient, '{patient_id}');
  t.same(sso!.resource_scope_by_claim, { claim: 'groups', values: { clinicians: 'user/*.rs patient/*.rs', pharmacists: 'user/MedicationRequest.cruds' } });
  t.same(local, {
    id: 'local-idp',
    name: 'Local',
    issuer: 'http://127.0.0.1:9999',
    allow_http: true,
    client_id: 'gw',
    token_endpoint_auth_method: 'private_key_jwt',
    signing_key_file: '/run/secrets/idp.jwk',
    fhir_user: '{fhirUser}',
    patient: 'Patient/{patient_id}',
    resource_scope_by_claim: { claim: 'roles', values: { doctor: 'user/*.rs' } },
    scope: 'openid',
  });
});

t.test('id: a URL path segment, unique', async (t) => {
  t.same(problemsOf(withProviders(provider().replace('id: hospital-sso', 'id: Hospital_SSO'))), [
    'gateway.yaml: identity_providers[0].id: expected 1 to 64 lowercase letters, digits and - (it is a URL path segment) (got "Hospital_SSO")',
  ]);
  t.same(problemsOf(withProviders(provider(), provider().replace('name: Hospital SSO', 'name: Other'))), [
    'gateway.yaml: identity_providers[1].id: duplicate id "hospital-sso" (already used by identity_providers[0])',
  ]);
});

t.test('issuer: https, or http only with allow_http', async (t) => {
  const http = (extra = '') => withProviders(provider(`allow_http: ${extra || 'false'}`).replace('https://sso.example.org/realms/hospital', 'http://sso.internal/realms/h'));
  t.same(problemsOf(http()), [
    'gateway.yaml: identity_providers[0].issuer: an http:// issuer needs allow_http: true (for tests and local providers only; use https) (got "http://sso.internal/realms/h")',
  ]);
  t.same(
    problemsOf(withProviders(provider().replace('https://sso.example.org/realms/hospital', 'http://sso.internal'))),
    ['gateway.yaml: identity_providers[0].issuer: an http:// issuer needs allow_http: true (for tests and local providers only; use https) (got "http://sso.internal")'],
    'allow_http defaults to false',
  );
  t.equal(parseConfig(http('true'), 'g.yaml', {}).identity_providers![0]!.issuer, 'http://sso.internal/realms/h');
  for (const bad of ['sso.example.org', 'ftp://sso.example.org', 'https://sso.example.org/?realm=h', 'https://sso.example.org/#h']) {
    t.same(
      problemsOf(withProviders(provider().replace('https://sso.example.org/realms/hospital', bad))),
      [`gateway.yaml: identity_providers[0].issuer: expected an absolute https URL without query or fragment (got ${JSON.stringify(bad)})`],
      bad,
    );
  }
});

t.test('client authentication at the provider', async (t) => {
  const noSecret = provider().replace(', client_secret: s3cret', '');
  t.same(problemsOf(withProviders(noSecret)), ['gateway.yaml: identity_providers[0].client_secret: required when token_endpoint_auth_method is client_secret_basic']);
  t.same(problemsOf(withProviders(`${noSecret.slice(0, -1)}, token_endpoint_auth_method: client_secret_post}`)), [
    'gateway.yaml: identity_providers[0].client_secret: required when token_endpoint_auth_method is client_secret_post',
  ]);
  t.same(problemsOf(withProviders(`${noSecret.slice(0, -1)}, token_endpoint_auth_method: private_key_jwt}`)), [
    'gateway.yaml: identity_providers[0].signing_key_file: required when token_endpoint_auth_method is private_key_jwt',
  ]);
  t.same(problemsOf(withProviders(provider('token_endpoint_auth_method: private_key_jwt, signing_key_file: /k.jwk'))), [
    'gateway.yaml: identity_providers[0].client_secret: not allowed when token_endpoint_auth_method is private_key_jwt (the signing key authenticates the gateway)',
  ]);
  t.same(problemsOf(withProviders(provider('signing_key_file: /k.jwk'))), [
    'gateway.yaml: identity_providers[0].signing_key_file: only with token_endpoint_auth_method: private_key_jwt',
  ]);
  t.same(problemsOf(withProviders(provider('token_endpoint_auth_method: tls_client_auth'))), [
    'gateway.yaml: identity_providers[0].token_endpoint_auth_method: expected one of client_secret_basic, client_secret_post, private_key_jwt (got "tls_client_auth")',
  ]);
});

t.test('the secret comes from the environment and is never quoted back', async (t) => {
  const fromEnv = withProviders(provider().replace('client_secret: s3cret', 'client_secret: "${SSO_SECRET}"'));
  t.equal(parseConfig(fromEnv, 'g.yaml', { SSO_SECRET: 'from-env: #1' }).identity_providers![0]!.client_secret, 'from-env: #1');
  t.same(problemsOf(fromEnv), [
    'gateway.yaml: identity_providers[0].client_secret: environment variable SSO_SECRET is not set (use ${SSO_SECRET:-default} to give a default)',
  ]);
  const problems = problemsOf(withProviders(provider().replace('client_secret: s3cret', 'client_secret: 8675309')));
  t.same(problems, ['gateway.yaml: identity_providers[0].client_secret: expected a string (got a number)']);
});

t.test('scope must ask for openid', async (t) => {
  for (const scope of ['profile email', 'openid  profile', '']) {
    t.same(
      problemsOf(withProviders(provider(`scope: ${JSON.stringify(scope)}`))),
      [`gateway.yaml: identity_providers[0].scope: expected scope tokens separated by single spaces, including openid (got ${JSON.stringify(scope)})`],
      JSON.stringify(scope),
    );
  }
});

t.test('fhir_user and patient templates', async (t) => {
  const fhirUserOk = ['Practitioner/{employee_id}', 'PractitionerRole/{role_id}', 'Patient/p-{mrn}', '{fhirUser}', '{https://example.org/claims/fhir_user}'];
  for (const template of fhirUserOk) {
    t.equal(parseConfig(withProviders(provider().replace('Practitioner/{employee_id}', template)), 'g.yaml', {}).identity_providers![0]!.fhir_user, template, template);
  }
  for (const template of ['Practioner/{employee_id}', 'Practitioner/123', 'Device/{id}', '{type}/{id}', 'Practitioner/{}', 'Practitioner/{id', 'Practitioner/{a}{b}}']) {
    t.same(
      problemsOf(withProviders(provider().replace('Practitioner/{employee_id}', template))),
      [
        `gateway.yaml: identity_providers[0].fhir_user: expected a template such as Practitioner/{employee_id} (Practitioner, PractitionerRole, Patient, RelatedPerson or Person), or {fhirUser} for a claim holding the whole reference (got ${JSON.stringify(template)})`,
      ],
      template,
    );
  }
  t.same(problemsOf(withProviders(provider().replace(', fhir_user: "Practitioner/{employee_id}"', ''))), ['gateway.yaml: identity_providers[0].fhir_user: required key is missing']);

  for (const template of ['{patient_id}', 'Patient/{patient_id}', 'mrn-{mrn}']) {
    t.equal(parseConfig(withProviders(provider(`patient: "${template}"`)), 'g.yaml', {}).identity_providers![0]!.patient, template, template);
  }
  for (const template of ['Practitioner/{id}', '456', 'Patient/{a}/x', 'Patient/{a']) {
    t.same(
      problemsOf(withProviders(provider(`patient: "${template}"`))),
      [`gateway.yaml: identity_providers[0].patient: expected a template such as {patient_id} or Patient/{patient_id} (got ${JSON.stringify(template)})`],
      template,
    );
  }
});

t.test('resource scope: written down, well formed', async (t) => {
  t.same(problemsOf(withProviders(provider().replace(', resource_scope: "user/*.rs"', ''))), [
    "gateway.yaml: identity_providers[0]: resource_scope or resource_scope_by_claim is required: what this provider's people may grant an app must be written down",
  ]);
  t.same(problemsOf(withProviders(provider('resource_scope_by_claim: {claim: groups, values: {nurses: "user/*.rs  patient/*.rs"}}'))), [
    'gateway.yaml: identity_providers[0].resource_scope_by_claim.values.nurses: expected scope tokens separated by single spaces (got "user/*.rs  patient/*.rs")',
  ]);
  t.same(problemsOf(withProviders(provider('resource_scope_by_claim: {claim: groups, values: {}}'))), [
    'gateway.yaml: identity_providers[0].resource_scope_by_claim.values: expected at least one claim value with its scopes, e.g. { clinicians: "user/*.rs" }',
  ]);
  t.same(problemsOf(withProviders(provider('resource_scope_by_claim: {values: {a: "user/*.rs"}}'))), [
    'gateway.yaml: identity_providers[0].resource_scope_by_claim.claim: required key is missing',
  ]);
  t.same(problemsOf(withProviders(provider('resource_scope_by_claim: {claim: groups, values: {a: [user/*.rs]}}'))), [
    'gateway.yaml: identity_providers[0].resource_scope_by_claim.values.a: expected a string (got a list)',
  ]);
  t.same(problemsOf(withProviders(provider().replace('resource_scope: "user/*.rs"', 'resource_scope: "user/*.rs "'))), [
    'gateway.yaml: identity_providers[0].resource_scope: expected scope tokens separated by single spaces (got "user/*.rs ")',
  ]);
});

t.test('unknown and missing keys are named', async (t) => {
  const [unknown, ...rest] = problemsOf(withProviders(provider('redirect_uri: "https://gw/cb"')));
  t.same(rest, []);
  t.equal(
    unknown,
    'gateway.yaml: identity_providers[0].redirect_uri: unknown key (allowed: id, name, issuer, client_id, client_secret, token_endpoint_auth_method, signing_key_file, scope, fhir_user, patient, resource_scope, resource_scope_by_claim, allow_http)',
  );
  t.same(problemsOf(withProviders('{id: a}')), [
    'gateway.yaml: identity_providers[0].name: required key is missing',
    'gateway.yaml: identity_providers[0].issuer: required key is missing',
    'gateway.yaml: identity_providers[0].client_id: required key is missing',
    'gateway.yaml: identity_providers[0].fhir_user: required key is missing',
  ]);
  t.same(problemsOf(`${BASE}identity_providers: {id: a}\n`), ['gateway.yaml: identity_providers: expected a list (got a mapping)']);
  t.same(problemsOf(withProviders(provider('allow_http: "yes"'))), ['gateway.yaml: identity_providers[0].allow_http: expected true or false (got "yes")']);
});

t.test('clients: launch_uri and creates_launches', async (t) => {
  const client = (extra: string) =>
    `${BASE}clients:\n  - {client_id: app, token_endpoint_auth_method: none, grant_types: [authorization_code], redirect_uris: ["https://app.example/cb"], scope: "launch openid patient/*.rs", ${extra}}\n`;
  const ehr = (extra: string) => `${BASE}clients:\n  - {client_id: ehr, client_secret: x, scope: "system/Patient.rs", ${extra}}\n`;

  const app = parseConfig(client('launch_uri: "https://app.example/launch?tenant=a"'), 'g.yaml', {}).clients[0]!;
  t.equal(app.launch_uri, 'https://app.example/launch?tenant=a', 'a query is kept: iss and launch are appended to it');
  t.equal(app.creates_launches, undefined, 'absent, not defaulted (reads as false)');
  t.equal(parseConfig(ehr('creates_launches: true'), 'g.yaml', {}).clients[0]!.creates_launches, true);

  for (const bad of ['/launch', 'app://launch', 'https://app.example/launch#x']) {
    t.same(problemsOf(client(`launch_uri: "${bad}"`)), [`gateway.yaml: clients[0].launch_uri: expected an absolute http(s) URL without a fragment (got ${JSON.stringify(bad)})`], bad);
  }
  t.same(problemsOf(ehr('launch_uri: "https://ehr.example/launch"')), [
    'gateway.yaml: clients[0].launch_uri: only for clients with the authorization_code or implicit grant (an EHR launch continues with an authorize request)',
  ]);
  t.same(problemsOf(client('creates_launches: true')), [
    'gateway.yaml: clients[0].creates_launches: only for confidential clients (POST /oauth/launch authenticates the EHR as the token endpoint does; token_endpoint_auth_method none cannot)',
  ]);
  t.same(problemsOf(ehr('creates_launches: "yes"')), ['gateway.yaml: clients[0].creates_launches: expected true or false (got "yes")']);
});

t.test('tokens.launch_ttl', async (t) => {
  t.equal(parseConfig(`${BASE}tokens: {launch_ttl: 2m}\n`, 'g.yaml', {}).tokens.launch_ttl, 120);
  t.equal(parseConfig(BASE, 'g.yaml', {}).tokens.launch_ttl, undefined, 'absent: the launch records apply the 5m default');
  t.same(problemsOf(`${BASE}tokens: {launch_ttl: 0s}\n`), ['gateway.yaml: tokens.launch_ttl: expected a duration of at least 1s (got 0)']);
  t.same(problemsOf(`${BASE}tokens: {launch_ttl: soon}\n`), ['gateway.yaml: tokens.launch_ttl: expected a duration like 30s, 5m, 1h or 30d (got "soon")']);
});

t.test('the example file documents and loads every new key', async (t) => {
  const config = loadConfigFile(EXAMPLE, { BACKEND_SECRET: 'x', SSO_CLIENT_SECRET: 'sso-from-env' });
  const [sso] = config.identity_providers!;
  t.equal(sso!.id, 'hospital-sso');
  t.equal(sso!.client_secret, 'sso-from-env');
  t.equal(sso!.fhir_user, 'Practitioner/{employee_id}');
  t.same(Object.keys(sso!.resource_scope_by_claim!.values), ['clinicians', 'pharmacists']);
  t.equal(config.clients.find((c) => c.client_id === 'clinic-web-app')!.launch_uri, 'https://clinic.example.org/launch');
});

t.test('claim template grammar', async (t) => {
  t.same(parseClaimTemplate('Practitioner/{employee_id}'), [{ literal: 'Practitioner/' }, { claim: 'employee_id' }]);
  t.same(parseClaimTemplate('{fhirUser}'), [{ claim: 'fhirUser' }]);
  t.same(parseClaimTemplate('p-{a}-{b}'), [{ literal: 'p-' }, { claim: 'a' }, { literal: '-' }, { claim: 'b' }]);
  t.same(parseClaimTemplate('{https://ex.org/claims/id}'), [{ claim: 'https://ex.org/claims/id' }], 'namespaced claim names');
  for (const bad of ['Practitioner/123', 'Practitioner/{}', '{a', 'a}', '{a}}', '{{a}}', '']) {
    t.equal(parseClaimTemplate(bad), undefined, JSON.stringify(bad));
  }
  t.equal(sampleClaimTemplate(parseClaimTemplate('Patient/{a}{b}')!, 'x'), 'Patient/xx');
});
