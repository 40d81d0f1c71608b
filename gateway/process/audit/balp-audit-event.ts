/**
 * One access decision as a FHIR R4 AuditEvent shaped by IHE Basic Audit Log Patterns (BALP,
 * https://profiles.ihe.net/ITI/BALP), "RESTful activities": type `rest`, the FHIR interaction as
 * subtype, the client application, the gateway's FHIR endpoint and (in user flows) the user as
 * agents, the patient, the data or the query as entities, the X-Request-Id as the transaction,
 * and the gateway as the source that observed it all.
 *
 * Pure: no clock, no I/O; the same decision always gives the same AuditEvent.
 *
 * `meta.profile` names a BALP profile only when the event meets it. BALP's profiles fix
 * outcome = success ("failures are recorded differently"), cover create, read/vread,
 * update/patch, delete and search, and need the client's network address and an identified
 * resource; anything else (a denial, a history or batch request, a create whose new id is not
 * known) gets the same shape without claiming a profile it would not satisfy.
 */
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding, Reference } from '@medplum/fhirtypes';
import type { AuditRecord } from '../audit-log.js';

/** What the AuditEvent is built from: the audit log's record plus what BALP asks for beyond it. */
export interface AuditDecision extends AuditRecord {
  /**
   * The search as the client sent it: the path relative to the FHIR base and the query string
   * (`/Observation?patient=123&code=8867-4`; for a POST `_search`, the form body as the query
   * string). Recorded unchanged, base64-encoded, as BALP asks, so even a malformed or hostile
   * search is kept exactly. For searches and conditional interactions; absent otherwise.
   */
  query?: string;
  /** The client's address as the gateway determined it (trusted proxies applied). */
  client_ip?: string;
}

/** Who is recording: the gateway, known by its public URL. */
export interface AuditEventSourceInfo {
  /** server.public_url: the FHIR base clients call and the issuer of their tokens. */
  publicUrl: string;
  /**
   * Base for references to resources (the patient, the data, the user's fhirUser). Absent ->
   * relative references (`Patient/123`), right when the AuditEvents are stored on the server that
   * holds the data. Set it (e.g. to the public URL) when they go to another server, where a
   * relative reference would point at the wrong place.
   */
  referenceBase?: string;
}

export const BALP_PROFILE_BASE = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/';
export const AUDIT_EVENT_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
export const RESTFUL_INTERACTION_SYSTEM = 'http://hl7.org/fhir/restful-interaction';
export const DICOM_SYSTEM = 'http://dicom.nema.org/resources/ontology/DCM';
export const PARTICIPATION_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
export const PROVENANCE_PARTICIPANT_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';
export const ENTITY_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
export const OBJECT_ROLE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/object-role';
export const SECURITY_SOURCE_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/security-source-type';
export const BALP_ENTITY_TYPE_SYSTEM = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';
/** FHIR's identifier system for values that are URIs. */
const URI_IDENTIFIER_SYSTEM = 'urn:ietf:rfc:3986';

/** AuditEvent.action (R4, required binding). */
export type AuditAction = 'C' | 'R' | 'U' | 'D' | 'E';
/** AuditEvent.outcome (R4, required binding): success, minor failure (4xx), serious failure (5xx). */
export type AuditOutcome = '0' | '4' | '8';

/**
 * Which BALP pattern an interaction follows. Agent types differ between them: BALP keeps the
 * DICOM convention that the side sending data is the "Source Role ID" (the server, for a read).
 */
type BalpKind = 'read' | 'create' | 'update' | 'delete' | 'query' | 'other';

interface InteractionShape {
  /** R4 restful-interaction code; absent when the request is no FHIR interaction (well-known). */
  subtype?: string;
  action: AuditAction;
  kind: BalpKind;
}

/**
 * Every interaction authz/fhir-request.ts classifies. Reads of one known resource (and its
 * versions) are R; what returns a server-chosen set (searches, type/system history, batches,
 * operations) is E, as for BALP's Query. Conditional forms are audited as the interaction they
 * carry out.
 */
const INTERACTIONS: Readonly<Record<string, InteractionShape>> = {
  read: { subtype: 'read', action: 'R', kind: 'read' },
  vread: { subtype: 'vread', action: 'R', kind: 'read' },
  'history-instance': { subtype: 'history-instance', action: 'R', kind: 'other' },
  'history-type': { subtype: 'history-type', action: 'E', kind: 'other' },
  'history-system': { subtype: 'history-system', action: 'E', kind: 'other' },
  create: { subtype: 'create', action: 'C', kind: 'create' },
  'conditional-create': { subtype: 'create', action: 'C', kind: 'create' },
  update: { subtype: 'update', action: 'U', kind: 'update' },
  'conditional-update': { subtype: 'update', action: 'U', kind: 'update' },
  patch: { subtype: 'patch', action: 'U', kind: 'update' },
  'conditional-patch': { subtype: 'patch', action: 'U', kind: 'update' },
  delete: { subtype: 'delete', action: 'D', kind: 'delete' },
  'conditional-delete': { subtype: 'delete', action: 'D', kind: 'delete' },
  'search-type': { subtype: 'search-type', action: 'E', kind: 'query' },
  'search-system': { subtype: 'search-system', action: 'E', kind: 'query' },
  // R4 has no compartment code: a compartment search is a `search`.
  'search-compartment': { subtype: 'search', action: 'E', kind: 'query' },
  'operation-system': { subtype: 'operation', action: 'E', kind: 'other' },
  'operation-type': { subtype: 'operation', action: 'E', kind: 'other' },
  'operation-instance': { subtype: 'operation', action: 'E', kind: 'other' },
  capabilities: { subtype: 'capabilities', action: 'R', kind: 'other' },
  batch: { subtype: 'batch', action: 'E', kind: 'other' },
  transaction: { subtype: 'transaction', action: 'E', kind: 'other' },
  'well-known': { action: 'R', kind: 'other' },
};

/**
 * A request refused before it was classified (bad token, malformed path) has only its method.
 * POST may be a create, a search or an operation, so it is an Execute.
 */
const ACTION_BY_METHOD: Readonly<Record<string, AuditAction>> = { GET: 'R', HEAD: 'R', PUT: 'U', PATCH: 'U', DELETE: 'D' };

/** BALP profile names (without the Patient prefix) per kind. */
const PROFILE_NAMES: Readonly<Partial<Record<BalpKind, string>>> = { read: 'Read', create: 'Create', update: 'Update', delete: 'Delete', query: 'Query' };

const coding = (system: string, code: string, display?: string): Coding => (display === undefined ? { system, code } : { system, code, display });

const SOURCE_ROLE = coding(DICOM_SYSTEM, '110153', 'Source Role ID');
const DESTINATION_ROLE = coding(DICOM_SYSTEM, '110152', 'Destination Role ID');
const APPLICATION = coding(DICOM_SYSTEM, '110150', 'Application');
const CUSTODIAN = coding(PROVENANCE_PARTICIPANT_TYPE_SYSTEM, 'custodian', 'Custodian');
const INFORMATION_RECIPIENT = coding(PARTICIPATION_TYPE_SYSTEM, 'IRCP', 'information recipient');
const AUTHOR = coding(PARTICIPATION_TYPE_SYSTEM, 'AUT', 'author (originator)');

/** BALP's agent types per kind: who sends (Source), who receives (Destination), what the user is. */
const AGENT_TYPES: Readonly<Record<BalpKind, { client: Coding; server: Coding; user: Coding }>> = {
  read: { client: DESTINATION_ROLE, server: SOURCE_ROLE, user: INFORMATION_RECIPIENT },
  query: { client: SOURCE_ROLE, server: DESTINATION_ROLE, user: INFORMATION_RECIPIENT },
  create: { client: SOURCE_ROLE, server: DESTINATION_ROLE, user: AUTHOR },
  update: { client: SOURCE_ROLE, server: DESTINATION_ROLE, user: AUTHOR },
  delete: { client: APPLICATION, server: CUSTODIAN, user: AUTHOR },
  other: { client: SOURCE_ROLE, server: DESTINATION_ROLE, user: INFORMATION_RECIPIENT },
};

/** R4 network-type codes. */
const NETWORK_IP = '2';
const NETWORK_URI = '5';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const RELATIVE_REFERENCE = /^([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9\-.]{1,64})$/;

export function toBalpAuditEvent(decision: AuditDecision, source: AuditEventSourceInfo): AuditEvent {
  const shape = interactionShape(decision);
  const outcome = auditOutcome(decision);
  const types = AGENT_TYPES[shape.kind];
  const ref = (relative: string) => (source.referenceBase === undefined ? relative : `${source.referenceBase.replace(/\/+$/, '')}/${relative}`);

  const user = userAgent(decision, types.user, source.publicUrl, ref);
  const client = clientAgent(decision, types.client, source.publicUrl, user === undefined);
  const agents = [...(client ? [client] : []), serverAgent(source.publicUrl, types.server), ...(user ? [user] : [])];

  const patient = patientEntity(decision, ref);
  const data = shape.kind === 'query' ? undefined : dataEntity(decision, ref);
  const query = queryEntity(decision);
  const transaction = transactionEntity(decision);
  const entities = [patient, data, query, transaction].filter((entity): entity is AuditEventEntity => entity !== undefined);

  const profile = balpProfile({ shape, outcome, client, patient, data, query });
  return {
    resourceType: 'AuditEvent',
    ...(profile ? { meta: { profile: [profile] } } : {}),
    type: coding(AUDIT_EVENT_TYPE_SYSTEM, 'rest', 'Restful Operation'),
    ...(shape.subtype ? { subtype: [coding(RESTFUL_INTERACTION_SYSTEM, shape.subtype, shape.subtype)] } : {}),
    action: shape.action,
    recorded: decision.time,
    outcome,
    ...(decision.reason ? { outcomeDesc: decision.reason } : {}),
    agent: agents,
    source: {
      site: new URL(source.publicUrl).host,
      observer: { identifier: { system: URI_IDENTIFIER_SYSTEM, value: source.publicUrl }, display: 'fhir-oauth-gateway' },
      // The gateway is the authorization server and the access decision point in front of the data.
      type: [coding(SECURITY_SOURCE_TYPE_SYSTEM, '6', 'Security Server')],
    },
    ...(entities.length > 0 ? { entity: entities } : {}),
  };
}

function interactionShape(decision: AuditDecision): InteractionShape {
  const known = decision.interaction === undefined ? undefined : INTERACTIONS[decision.interaction];
  return known ?? { action: ACTION_BY_METHOD[decision.method.toUpperCase()] ?? 'E', kind: 'other' };
}

/** Success only when the gateway allowed the request and the upstream answered below 400. */
export function auditOutcome(decision: Pick<AuditRecord, 'decision' | 'status'>): AuditOutcome {
  if (decision.decision === 'error' || decision.status >= 500) return '8';
  if (decision.decision === 'deny' || decision.status >= 400) return '4';
  return '0';
}

function clientAgent(decision: AuditDecision, type: Coding, issuer: string, isRequestor: boolean): AuditEventAgent | undefined {
  if (decision.client_id === undefined && decision.client_ip === undefined) return undefined;
  return {
    type: { coding: [type] },
    // A client_id is unique within the issuer that registered it, hence the issuer as system.
    ...(decision.client_id !== undefined ? { who: { identifier: { system: issuer, value: decision.client_id } } } : {}),
    // Without a user (client_credentials) the application itself asked.
    requestor: isRequestor,
    ...(decision.client_ip !== undefined ? { network: { address: decision.client_ip, type: NETWORK_IP } } : {}),
  };
}

function serverAgent(publicUrl: string, type: Coding): AuditEventAgent {
  return {
    type: { coding: [type] },
    who: { identifier: { system: URI_IDENTIFIER_SYSTEM, value: publicUrl }, display: publicUrl },
    requestor: false,
    network: { address: publicUrl, type: NETWORK_URI },
  };
}

/**
 * The person, in user flows. A client_credentials token has sub = client_id: no person took
 * part, so no user agent. The user is identified as the token says (issuer + sub, BALP's
 * OAuth pattern), and by the fhirUser resource when the token carries one.
 */
function userAgent(decision: AuditDecision, type: Coding, issuer: string, ref: (relative: string) => string): AuditEventAgent | undefined {
  const sub = decision.sub;
  if (sub === undefined || sub === decision.client_id) return undefined;
  const fhirUser = decision.fhirUser !== undefined && RELATIVE_REFERENCE.test(decision.fhirUser) ? ref(decision.fhirUser) : undefined;
  const who: NonNullable<AuditEventAgent['who']> = { ...(fhirUser ? { reference: fhirUser } : {}), identifier: { system: issuer, value: sub } };
  return { type: { coding: [type] }, who, name: sub, requestor: true };
}

/**
 * The patient whose data this is: the Patient resource itself when that is what was accessed,
 * otherwise the token's patient launch context. The token carries a bare id; "Patient/id" is
 * accepted too.
 */
function patientEntity(decision: AuditDecision, ref: (relative: string) => string): AuditEventEntity | undefined {
  const id =
    decision.resource_type === 'Patient' && decision.resource_id !== undefined
      ? decision.resource_id
      : decision.patient?.replace(/^Patient\//, '');
  if (id === undefined || !FHIR_ID.test(id)) return undefined;
  return {
    what: { reference: ref(`Patient/${id}`) },
    type: coding(ENTITY_TYPE_SYSTEM, '1', 'Person'),
    role: coding(OBJECT_ROLE_SYSTEM, '1', 'Patient'),
  };
}

/** The resource acted on; by type alone when its id is not known (a create, a conditional request). */
function dataEntity(decision: AuditDecision, ref: (relative: string) => string): AuditEventEntity | undefined {
  const type = decision.resource_type;
  if (type === undefined || !RESOURCE_TYPE.test(type)) return undefined;
  const id = decision.resource_id;
  // The classifier only lets R4 resource types through (authz/fhir-request.ts).
  const what: Reference = id !== undefined && FHIR_ID.test(id) ? { reference: ref(`${type}/${id}`) } : { type: type as Reference['type'] };
  return {
    what,
    type: coding(ENTITY_TYPE_SYSTEM, '2', 'System Object'),
    role: coding(OBJECT_ROLE_SYSTEM, '4', 'Domain Resource'),
  };
}

function queryEntity(decision: AuditDecision): AuditEventEntity | undefined {
  if (decision.query === undefined || decision.query === '') return undefined;
  return {
    type: coding(ENTITY_TYPE_SYSTEM, '2', 'System Object'),
    role: coding(OBJECT_ROLE_SYSTEM, '24', 'Query'),
    query: Buffer.from(decision.query, 'utf8').toString('base64'),
  };
}

function transactionEntity(decision: AuditDecision): AuditEventEntity | undefined {
  if (decision.request_id === undefined) return undefined;
  return {
    what: { identifier: { value: decision.request_id } },
    type: coding(BALP_ENTITY_TYPE_SYSTEM, 'XrequestId', 'transport specific unique identifier where http X-Request-Id is used'),
  };
}

/** The BALP profile the event meets, if any (see the file comment). */
function balpProfile(parts: {
  shape: InteractionShape;
  outcome: AuditOutcome;
  client: AuditEventAgent | undefined;
  patient: AuditEventEntity | undefined;
  data: AuditEventEntity | undefined;
  query: AuditEventEntity | undefined;
}): string | undefined {
  const name = PROFILE_NAMES[parts.shape.kind];
  if (name === undefined || parts.outcome !== '0') return undefined;
  // agent[client]: who 1..1 and network 1..1.
  if (parts.client?.who === undefined || parts.client.network === undefined) return undefined;
  // entity[query].query 1..1 for a search; entity[data].what 1..1, naming the resource, otherwise.
  const entityPresent = parts.shape.kind === 'query' ? parts.query !== undefined : parts.data?.what?.reference !== undefined;
  if (!entityPresent) return undefined;
  return `${BALP_PROFILE_BASE}IHE.BasicAudit.${parts.patient ? 'Patient' : ''}${name}`;
}
