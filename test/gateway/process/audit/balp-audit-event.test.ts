import t from 'tap';
import type { AuditEvent, AuditEventAgent } from '@medplum/fhirtypes';
import {
  BALP_PROFILE_BASE,
  toBalpAuditEvent,
  type AuditDecision,
  type AuditEventSourceInfo,
} from '../../../../gateway/process/audit/balp-audit-event.js';
import { balpProblems, r4Problems } from '../../../support/balp-conformance.js';

const GATEWAY: AuditEventSourceInfo = { publicUrl: 'https://fhir.example.org/fhir' };

/** A user-flow decision: alice, through clinic-web-app, reading her record. */
function decision(overrides: Partial<AuditDecision> = {}): AuditDecision {
  return {
    time: '2026-03-01T10:15:30.123Z',
    request_id: 'req-0001',
    client_id: 'clinic-web-app',
    sub: 'alice',
    fhirUser: 'Practitioner/dr-alice',
    patient: 'pat-123',
    client_ip: '10.1.2.3',
    method: 'GET',
    interaction: 'read',
    resource_type: 'Observation',
    resource_id: 'obs-1',
    decision: 'allow',
    reason: 'granted by patient/Observation.rs',
    status: 200,
    latency_ms: 12,
    ...overrides,
  };
}

const agentCodes = (event: AuditEvent) => event.agent.map((agent: AuditEventAgent) => agent.type?.coding?.[0]?.code);
const entityRoles = (event: AuditEvent) => (event.entity ?? []).map((entity) => entity.role?.code ?? entity.type?.code);
const profileOf = (event: AuditEvent) => event.meta?.profile?.[0]?.slice(BALP_PROFILE_BASE.length);

interface Row {
  name: string;
  input: Partial<AuditDecision>;
  subtype: string | undefined;
  action: string;
  outcome: string;
  /** Without BALP_PROFILE_BASE; undefined = no profile claimed. */
  profile: string | undefined;
  /** agent type codes in order: client, server, user. */
  agents: (string | undefined)[];
  /** entity role codes (type code for the transaction) in order. */
  entities: string[];
}

const SEARCH = { interaction: 'search-type', resource_id: undefined, query: '/Observation?patient=pat-123&code=8867-4' } as const;

const TABLE: Row[] = [
  { name: 'read, patient context', input: {}, subtype: 'read', action: 'R', outcome: '0', profile: 'IHE.BasicAudit.PatientRead', agents: ['110152', '110153', 'IRCP'], entities: ['1', '4', 'XrequestId'] },
  { name: 'vread', input: { interaction: 'vread' }, subtype: 'vread', action: 'R', outcome: '0', profile: 'IHE.BasicAudit.PatientRead', agents: ['110152', '110153', 'IRCP'], entities: ['1', '4', 'XrequestId'] },
  {
    name: 'read without a patient (system scope, no patient context)',
    input: { sub: 'backend', client_id: 'backend', fhirUser: undefined, patient: undefined, resource_type: 'Practitioner', resource_id: 'dr-who' },
    subtype: 'read', action: 'R', outcome: '0', profile: 'IHE.BasicAudit.Read', agents: ['110152', '110153'], entities: ['4', 'XrequestId'],
  },
  {
    name: 'read of a Patient: that Patient is the patient entity',
    input: { patient: undefined, resource_type: 'Patient', resource_id: 'pat-999' },
    subtype: 'read', action: 'R', outcome: '0', profile: 'IHE.BasicAudit.PatientRead', agents: ['110152', '110153', 'IRCP'], entities: ['1', '4', 'XrequestId'],
  },
  { name: 'search-type', input: SEARCH, subtype: 'search-type', action: 'E', outcome: '0', profile: 'IHE.BasicAudit.PatientQuery', agents: ['110153', '110152', 'IRCP'], entities: ['1', '24', 'XrequestId'] },
  {
    name: 'search-system without patient context',
    input: { interaction: 'search-system', resource_type: undefined, resource_id: undefined, patient: undefined, query: '/?_type=Practitioner' },
    subtype: 'search-system', action: 'E', outcome: '0', profile: 'IHE.BasicAudit.Query', agents: ['110153', '110152', 'IRCP'], entities: ['24', 'XrequestId'],
  },
  {
    name: 'compartment search is a `search`',
    input: { interaction: 'search-compartment', resource_id: undefined, query: '/Patient/pat-123/Observation' },
    subtype: 'search', action: 'E', outcome: '0', profile: 'IHE.BasicAudit.PatientQuery', agents: ['110153', '110152', 'IRCP'], entities: ['1', '24', 'XrequestId'],
  },
  {
    name: 'a search without its query cannot claim Query',
    input: { ...SEARCH, query: undefined },
    subtype: 'search-type', action: 'E', outcome: '0', profile: undefined, agents: ['110153', '110152', 'IRCP'], entities: ['1', 'XrequestId'],
  },
  {
    name: 'create with the new id known',
    input: { method: 'POST', interaction: 'create', resource_id: 'obs-new', status: 201 },
    subtype: 'create', action: 'C', outcome: '0', profile: 'IHE.BasicAudit.PatientCreate', agents: ['110153', '110152', 'AUT'], entities: ['1', '4', 'XrequestId'],
  },
  {
    name: 'create, new id unknown: the type only, no profile claimed',
    input: { method: 'POST', interaction: 'create', resource_id: undefined, status: 201 },
    subtype: 'create', action: 'C', outcome: '0', profile: undefined, agents: ['110153', '110152', 'AUT'], entities: ['1', '4', 'XrequestId'],
  },
  {
    name: 'conditional create records its criteria as a query',
    input: { method: 'POST', interaction: 'conditional-create', resource_id: undefined, status: 201, query: '/Observation?identifier=x' },
    subtype: 'create', action: 'C', outcome: '0', profile: undefined, agents: ['110153', '110152', 'AUT'], entities: ['1', '4', '24', 'XrequestId'],
  },
  { name: 'update', input: { method: 'PUT', interaction: 'update' }, subtype: 'update', action: 'U', outcome: '0', profile: 'IHE.BasicAudit.PatientUpdate', agents: ['110153', '110152', 'AUT'], entities: ['1', '4', 'XrequestId'] },
  { name: 'patch', input: { method: 'PATCH', interaction: 'patch' }, subtype: 'patch', action: 'U', outcome: '0', profile: 'IHE.BasicAudit.PatientUpdate', agents: ['110153', '110152', 'AUT'], entities: ['1', '4', 'XrequestId'] },
  { name: 'delete', input: { method: 'DELETE', interaction: 'delete', status: 204 }, subtype: 'delete', action: 'D', outcome: '0', profile: 'IHE.BasicAudit.PatientDelete', agents: ['110150', 'custodian', 'AUT'], entities: ['1', '4', 'XrequestId'] },
  {
    name: 'conditional delete',
    input: { method: 'DELETE', interaction: 'conditional-delete', resource_id: undefined, status: 204, query: '/Observation?code=x' },
    subtype: 'delete', action: 'D', outcome: '0', profile: undefined, agents: ['110150', 'custodian', 'AUT'], entities: ['1', '4', '24', 'XrequestId'],
  },
  {
    name: 'history-instance: a read, but no BALP profile covers it',
    input: { interaction: 'history-instance' },
    subtype: 'history-instance', action: 'R', outcome: '0', profile: undefined, agents: ['110153', '110152', 'IRCP'], entities: ['1', '4', 'XrequestId'],
  },
  {
    name: 'batch',
    input: { method: 'POST', interaction: 'batch', resource_type: undefined, resource_id: undefined },
    subtype: 'batch', action: 'E', outcome: '0', profile: undefined, agents: ['110153', '110152', 'IRCP'], entities: ['1', 'XrequestId'],
  },
  {
    name: 'operation',
    input: { method: 'POST', interaction: 'operation-type', resource_type: 'Patient', resource_id: undefined, patient: undefined },
    subtype: 'operation', action: 'E', outcome: '0', profile: undefined, agents: ['110153', '110152', 'IRCP'], entities: ['4', 'XrequestId'],
  },
  {
    name: 'capabilities',
    input: { interaction: 'capabilities', resource_type: undefined, resource_id: undefined, patient: undefined },
    subtype: 'capabilities', action: 'R', outcome: '0', profile: undefined, agents: ['110153', '110152', 'IRCP'], entities: ['XrequestId'],
  },
  {
    name: 'denied for scope: minor failure, no profile',
    input: { decision: 'deny', status: 403, reason: 'insufficient scope: needs patient/Observation.r' },
    subtype: 'read', action: 'R', outcome: '4', profile: undefined, agents: ['110152', '110153', 'IRCP'], entities: ['1', '4', 'XrequestId'],
  },
  {
    name: 'allowed, but the upstream answered 404: minor failure',
    input: { status: 404 },
    subtype: 'read', action: 'R', outcome: '4', profile: undefined, agents: ['110152', '110153', 'IRCP'], entities: ['1', '4', 'XrequestId'],
  },
  {
    name: 'upstream 503: serious failure',
    input: { status: 503 },
    subtype: 'read', action: 'R', outcome: '8', profile: undefined, agents: ['110152', '110153', 'IRCP'], entities: ['1', '4', 'XrequestId'],
  },
  {
    name: 'gateway error: serious failure',
    input: { decision: 'error', status: 502, reason: 'upstream error: ECONNREFUSED' },
    subtype: 'read', action: 'R', outcome: '8', profile: undefined, agents: ['110152', '110153', 'IRCP'], entities: ['1', '4', 'XrequestId'],
  },
  {
    name: 'bad token: no client, no user, no interaction; action from the method',
    input: {
      client_id: undefined, sub: undefined, fhirUser: undefined, patient: undefined, interaction: undefined, resource_type: undefined, resource_id: undefined,
      decision: 'deny', status: 401, reason: 'The access token was revoked', method: 'DELETE',
    },
    subtype: undefined, action: 'D', outcome: '4', profile: undefined, agents: ['110153', '110152'], entities: ['XrequestId'],
  },
  {
    name: 'POST that could not be classified: Execute',
    input: { client_id: undefined, sub: undefined, client_ip: undefined, patient: undefined, interaction: undefined, resource_type: undefined, resource_id: undefined, decision: 'deny', status: 400, method: 'POST' },
    subtype: undefined, action: 'E', outcome: '4', profile: undefined, agents: ['110152'], entities: ['XrequestId'],
  },
  {
    name: 'no client address: the client agent lacks network, so no profile',
    input: { client_ip: undefined },
    subtype: 'read', action: 'R', outcome: '0', profile: undefined, agents: ['110152', '110153', 'IRCP'], entities: ['1', '4', 'XrequestId'],
  },
];

t.test('a table of decisions maps to the right BALP codes, and every event is a valid R4 AuditEvent', async (t) => {
  for (const row of TABLE) {
    const event = toBalpAuditEvent(decision(row.input), GATEWAY);
    t.test(row.name, async (t) => {
      t.equal(event.resourceType, 'AuditEvent');
      t.same(event.type, { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'Restful Operation' });
      t.same(event.subtype?.map((s) => [s.system, s.code]), row.subtype === undefined ? undefined : [['http://hl7.org/fhir/restful-interaction', row.subtype]]);
      t.equal(event.action, row.action, 'action');
      t.equal(event.outcome, row.outcome, 'outcome');
      t.equal(profileOf(event), row.profile, 'meta.profile');
      t.same(agentCodes(event), row.agents, 'agent types');
      t.same(entityRoles(event), row.entities, 'entities');
      t.same(r4Problems(event), [], 'valid R4 AuditEvent');
      t.same(balpProblems(event), [], 'meets the profile it claims');
    });
  }
});

t.test('the claimed profile is not a rubber stamp: the checkers find what is wrong', async (t) => {
  const good = toBalpAuditEvent(decision(), GATEWAY);
  t.same(r4Problems({ ...good, recorded: 'yesterday' }).length > 0, true, 'a bad instant is caught by validateResource');
  t.match(r4Problems({ ...good, action: 'X' as 'E' }), [/action X/]);
  t.match(r4Problems({ ...good, outcome: '3' as '0' }), [/outcome 3/]);
  t.match(balpProblems({ ...good, outcome: '4' }), [/outcome must be 0/]);
  t.match(balpProblems({ ...good, agent: good.agent.slice(1) }), [/agent\[client\]/]);
  t.match(balpProblems({ ...good, entity: good.entity!.filter((e) => e.role?.code !== '1') }), [/entity\[patient\]/]);
});

t.test('who: the client, the user (issuer + sub, fhirUser), the gateway', async (t) => {
  const event = toBalpAuditEvent(decision(), GATEWAY);
  const [client, server, user] = event.agent;
  t.same(client, {
    type: { coding: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110152', display: 'Destination Role ID' }] },
    who: { identifier: { system: 'https://fhir.example.org/fhir', value: 'clinic-web-app' } },
    requestor: false,
    network: { address: '10.1.2.3', type: '2' },
  });
  t.same(server, {
    type: { coding: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110153', display: 'Source Role ID' }] },
    who: { identifier: { system: 'urn:ietf:rfc:3986', value: 'https://fhir.example.org/fhir' }, display: 'https://fhir.example.org/fhir' },
    requestor: false,
    network: { address: 'https://fhir.example.org/fhir', type: '5' },
  });
  t.same(user, {
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP', display: 'information recipient' }] },
    who: { reference: 'Practitioner/dr-alice', identifier: { system: 'https://fhir.example.org/fhir', value: 'alice' } },
    name: 'alice',
    requestor: true,
  });
  t.same(event.source, {
    site: 'fhir.example.org',
    observer: { identifier: { system: 'urn:ietf:rfc:3986', value: 'https://fhir.example.org/fhir' }, display: 'fhir-oauth-gateway' },
    type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '6', display: 'Security Server' }],
  });
  t.equal(event.recorded, '2026-03-01T10:15:30.123Z');
  t.equal(event.outcomeDesc, 'granted by patient/Observation.rs');

  const backend = toBalpAuditEvent(decision({ client_id: 'backend', sub: 'backend', fhirUser: undefined, patient: undefined }), GATEWAY);
  t.equal(backend.agent.length, 2, 'client_credentials (sub = client_id): no user agent');
  t.equal(backend.agent[0]!.requestor, true, 'the application itself is the requestor');

  const noFhirUser = toBalpAuditEvent(decision({ fhirUser: undefined }), GATEWAY);
  t.same(noFhirUser.agent[2]!.who, { identifier: { system: 'https://fhir.example.org/fhir', value: 'alice' } });
  const oddFhirUser = toBalpAuditEvent(decision({ fhirUser: 'https://elsewhere.example/Practitioner/1' }), GATEWAY);
  t.equal(oddFhirUser.agent[2]!.who!.reference, undefined, 'only a relative Type/id fhirUser becomes a reference');
});

t.test('what: the patient, the data, the query (base64, exactly as sent), the request id', async (t) => {
  const query = "/Observation?patient=pat-123&code=8867-4&name:contains=O'Brien <script>&x=%00";
  const event = toBalpAuditEvent(decision({ interaction: 'search-type', resource_id: undefined, query }), GATEWAY);
  const [patient, queryEntity, transaction] = event.entity!;
  t.same(patient, {
    what: { reference: 'Patient/pat-123' },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
    role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
  });
  t.equal(Buffer.from(queryEntity!.query!, 'base64').toString('utf8'), query, 'the search round-trips byte for byte');
  t.same(queryEntity!.role, { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '24', display: 'Query' });
  t.same(transaction, {
    what: { identifier: { value: 'req-0001' } },
    type: { system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType', code: 'XrequestId', display: 'transport specific unique identifier where http X-Request-Id is used' },
  });

  const read = toBalpAuditEvent(decision(), GATEWAY);
  t.same(read.entity![1], {
    what: { reference: 'Observation/obs-1' },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
    role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
  });

  t.equal(toBalpAuditEvent(decision({ patient: 'Patient/pat-7' }), GATEWAY).entity![0]!.what!.reference, 'Patient/pat-7', 'a "Patient/id" context is accepted too');
  t.notOk(
    toBalpAuditEvent(decision({ patient: '../etc' }), GATEWAY).entity!.some((e) => e.role?.code === '1'),
    'a patient value that is no FHIR id makes no patient entity',
  );
  t.notOk(toBalpAuditEvent(decision({ request_id: undefined }), GATEWAY).entity!.some((e) => e.type?.code === 'XrequestId'));
});

t.test('referenceBase makes every reference absolute (AuditEvents stored on another server)', async (t) => {
  const event = toBalpAuditEvent(decision(), { publicUrl: GATEWAY.publicUrl, referenceBase: 'https://fhir.example.org/fhir/' });
  t.equal(event.entity![0]!.what!.reference, 'https://fhir.example.org/fhir/Patient/pat-123');
  t.equal(event.entity![1]!.what!.reference, 'https://fhir.example.org/fhir/Observation/obs-1');
  t.equal(event.agent[2]!.who!.reference, 'https://fhir.example.org/fhir/Practitioner/dr-alice');
  t.same(r4Problems(event), []);
  t.same(balpProblems(event), []);
});

t.test('pure: the same decision gives the same event, and the input is not changed', async (t) => {
  const input = decision({ interaction: 'search-type', query: '/Observation?code=1' });
  const copy = structuredClone(input);
  t.same(toBalpAuditEvent(input, GATEWAY), toBalpAuditEvent(input, GATEWAY));
  t.same(input, copy);
});
