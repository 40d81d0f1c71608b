/**
 * The FHIR access decision: given the facts of one request and the claims of a verified token,
 * allow it (possibly with instructions the proxy must carry out) or deny it with the status and
 * the scope that would have allowed it. Pure: no I/O, no clock, no global state.
 *
 * Permission letters per interaction (SMART App Launch 2.x, "Scopes and Launch Context"):
 *   c create; r read, vread, instance history; u update, patch; d delete;
 *   s type/system search, type/system history, compartment search.
 * Conditional interactions also need `s` (they run a search first); a conditional update may
 * create, so it also needs `c`. System-level search/history need the `*` type.
 *
 * Scope contexts:
 * - system/ scopes are honoured only in tokens without a user or patient (no `fhirUser`, no
 *   `patient` claim): SMART reserves them for client-credentials (backend) tokens.
 * - patient/ scopes are honoured only with a `patient` claim, and confine the request to that
 *   patient's compartment (PATIENT_COMPARTMENT). Resource types outside the compartment
 *   (Medication, Practitioner, Organization, terminology, ...) are not patient data: a patient/
 *   scope for them grants access without confinement.
 * - user/ scopes are not confined here (the upstream applies the user's own permissions).
 *
 * Search reach: types returned by `_include`/`_revinclude` need `r`, types searched through by
 * chains and `_has` need `s`; an untyped reference whose target is ambiguous (`subject.name`),
 * `_include=*`, `_filter` and `_query` need the `*` type. An untyped `_include` of a parameter
 * that may point at several types (`_include=Observation:subject`: Patient, Group, Device,
 * Location) is allowed without `*` when the token can read at least one of them and the caller
 * can filter the response (`options.filterIncludes`): the allow then carries `filterIncludes`.
 * Filtering returned resources is safe because an included resource is not a match criterion;
 * chains and `_has` through unreadable types stay refused, since their effect on which resources
 * match cannot be filtered out afterwards.
 * Paging handles (`_getpages`, `_cursor`, `_page_token`) are decided on the type and parameters
 * the request carries; the proxy signs the paging links it hands out so they cannot be replayed
 * with other parameters.
 *
 * Patient context (only for patient data granted solely through patient/ scopes): reads of
 * `Patient/{patient}` pass, other Patients are 403, other types are checked on the response;
 * searches get the type's compartment parameter added (`Observation` -> `subject=Patient/{id}`,
 * `Patient` -> `_id={id}`) and are refused when they name another patient; writes must carry a
 * body in the compartment (JSON Patch may not touch the compartment references), and updates,
 * patches and deletes of existing resources need `checkCurrentResource`. History by type or
 * system, system search, `$export`, `$graphql` and unknown operations cannot be confined and
 * are refused. Batch/transaction entries are decided one by one, as if sent alone; an entry that
 * would need the proxy to rewrite or pre-check it is refused, since the Bundle is forwarded
 * as is.
 *
 * Instructions on an allow (the proxy must honour every one it receives, or refuse):
 * - needsBody: provisional; parse the body and call again with `facts.body`.
 * - addQuery: append these parameters to the forwarded query (patient confinement, granular scopes).
 * - checkResponse / checkRequestBody / checkCurrentResource: the returned resource(s), the body
 *   sent, or the resource currently stored (fetched by the proxy before forwarding) must satisfy
 *   the ResourceCheck: `resourceInPatientCompartment(resource, compartmentPatient)` and/or match
 *   the granular query (e.g. with @medplum/core `matchesSearchRequest`). For a Bundle (search,
 *   history, batch/transaction response) every entry.resource is checked, recursing into
 *   nested Bundles; OperationOutcome and other non-patient types pass the compartment check.
 * - filterIncludes (only when the caller passed `{ filterIncludes: true }`): the response, when it
 *   is a `searchset` Bundle, must go through `withholdUnreadableIncludes(bundle, filterIncludes)`
 *   (authz/smart/withheld-includes.ts) BEFORE checkResponse and before it is sent: every entry
 *   with `search.mode` `include` (or with no `search.mode`) whose resource type is not in
 *   `readableTypes` is dropped, and one OperationOutcome entry (`search.mode` `outcome`, issue
 *   code `suppressed`) says how many of which types were withheld. `readableTypes` lists every
 *   type the response may carry: the searched type (when the search names one) and each type
 *   the request's `_include`/`_revinclude` may return that the token can read without a
 *   granular restriction. Any other response (a single resource, an error) passes unchanged.
 *   A caller that cannot do this must not pass the option: such requests are then refused
 *   (403, the `*` scope they would otherwise need), as before the option existed.
 */
import { analyzeSearchReach, classifyRequest, formParameters, headerValue, type ClassifiedRequest, type FhirRequestFacts } from './fhir-request.js';
import { confineSearchToPatient, isPatientDataType, jsonPatchCompartmentProblem, R4_RESOURCE_TYPES, resourceInPatientCompartment } from './patient-compartment.js';
import { coverage, formatScope, honouredScopes, type HonouredScopes, type Permission } from './scopes.js';
import type { ScopeClaims } from './token-claims.js';

export interface ResourceCheck {
  /** The resource must be in this patient's compartment (or not be patient data). */
  compartmentPatient?: string;
  /** The resource must match these search parameters (a v2 granular scope). */
  granularQuery?: URLSearchParams;
}

/** Which included resources a search response may keep (see `filterIncludes` above). */
export interface IncludeFilter {
  /** Sorted R4 type names; entries of any other type in include mode are withheld. */
  readableTypes: string[];
}

export interface AccessAllowed {
  allow: true;
  reason: string;
  addQuery?: [string, string][];
  needsBody?: boolean;
  checkResponse?: ResourceCheck;
  checkRequestBody?: ResourceCheck;
  checkCurrentResource?: ResourceCheck;
  filterIncludes?: IncludeFilter;
}

/** What the caller can carry out beyond the instructions every caller must honour. */
export interface DecisionOptions {
  /** The caller filters search responses as `filterIncludes` asks (authz/smart/withheld-includes.ts). */
  filterIncludes?: boolean;
}

export interface AccessDenied {
  allow: false;
  status: 400 | 403 | 404 | 405 | 413;
  reason: string;
  neededScope?: string;
  deniedEntries?: { index: number; reason: string }[];
}

export type AccessDecision = AccessAllowed | AccessDenied;

/** Larger Bundles are refused (413) rather than decided entry by entry without bound. */
const MAX_BUNDLE_ENTRIES = 1000;

// ---------------------------------------------------------------------------------------------
// What the request needs

interface Requirement {
  /** The type whose scope is needed, or '*'. */
  resourceType: string;
  permissions: Permission[];
}

type PatientUse = 'confine-as-search' | 'own-patient-instance' | 'refuse';

interface OperationRule {
  /** Scope of the type the operation is invoked on, or only a `*` scope will do. */
  scopeType: 'invoked-type' | 'wildcard';
  instance: Permission[];
  type: Permission[];
  /** How a patient-confined token may use it on patient data. */
  patientUse: PatientUse;
}

const READ_LIKE: Pick<OperationRule, 'instance' | 'type'> = { instance: ['r'], type: ['r'] };

/**
 * Operations with a known meaning. Anything else (including `$graphql`, which can reach any
 * type and, by POST, write) needs a `*` scope: `rs` for GET (operations invoked by GET must not
 * change state), `cruds` for POST.
 */
const OPERATION_RULES: Readonly<Record<string, OperationRule>> = {
  everything: { scopeType: 'wildcard', instance: ['r', 's'], type: ['r', 's'], patientUse: 'own-patient-instance' },
  export: { scopeType: 'wildcard', instance: ['r', 's'], type: ['r', 's'], patientUse: 'refuse' },
  document: { scopeType: 'wildcard', instance: ['r', 's'], type: ['r', 's'], patientUse: 'refuse' },
  validate: { scopeType: 'invoked-type', instance: ['u'], type: ['c'], patientUse: 'refuse' },
  meta: { scopeType: 'invoked-type', instance: ['r'], type: ['s'], patientUse: 'refuse' },
  'meta-add': { scopeType: 'invoked-type', instance: ['u'], type: ['u'], patientUse: 'refuse' },
  'meta-delete': { scopeType: 'invoked-type', instance: ['u'], type: ['u'], patientUse: 'refuse' },
  expand: { scopeType: 'invoked-type', ...READ_LIKE, patientUse: 'refuse' },
  lookup: { scopeType: 'invoked-type', ...READ_LIKE, patientUse: 'refuse' },
  'validate-code': { scopeType: 'invoked-type', ...READ_LIKE, patientUse: 'refuse' },
  translate: { scopeType: 'invoked-type', ...READ_LIKE, patientUse: 'refuse' },
  subsumes: { scopeType: 'invoked-type', ...READ_LIKE, patientUse: 'refuse' },
  // $match takes its criteria in a Parameters body, so it cannot be confined by query.
  match: { scopeType: 'invoked-type', instance: ['s'], type: ['s'], patientUse: 'refuse' },
  lastn: { scopeType: 'invoked-type', instance: ['s'], type: ['s'], patientUse: 'confine-as-search' },
  docref: { scopeType: 'invoked-type', instance: ['s'], type: ['s'], patientUse: 'confine-as-search' },
};

function operationRule(request: ClassifiedRequest): OperationRule {
  const known = request.operation !== undefined ? OPERATION_RULES[request.operation] : undefined;
  if (known) return known;
  const permissions: Permission[] = request.method === 'GET' ? ['r', 's'] : ['c', 'r', 'u', 'd', 's'];
  return { scopeType: 'wildcard', instance: permissions, type: permissions, patientUse: 'refuse' };
}

const INTERACTION_PERMISSIONS: Partial<Record<ClassifiedRequest['interaction'], Permission[]>> = {
  read: ['r'],
  vread: ['r'],
  'history-instance': ['r'],
  'search-type': ['s'],
  'history-type': ['s'],
  'search-system': ['s'],
  'history-system': ['s'],
  'search-compartment': ['s'],
  create: ['c'],
  'conditional-create': ['c', 's'],
  update: ['u'],
  patch: ['u'],
  'conditional-update': ['c', 'u', 's'],
  'conditional-patch': ['u', 's'],
  delete: ['d'],
  'conditional-delete': ['d', 's'],
};

function requirementFor(request: ClassifiedRequest): Requirement {
  const interaction = request.interaction;
  if (interaction === 'operation-system' || interaction === 'operation-type' || interaction === 'operation-instance') {
    const rule = operationRule(request);
    const permissions = interaction === 'operation-instance' ? rule.instance : rule.type;
    const resourceType = rule.scopeType === 'wildcard' || request.resourceType === undefined ? '*' : request.resourceType;
    return { resourceType, permissions };
  }
  const systemLevel = interaction === 'search-system' || interaction === 'history-system';
  return { resourceType: systemLevel ? '*' : (request.resourceType ?? '*'), permissions: INTERACTION_PERMISSIONS[interaction] ?? ['c', 'r', 'u', 'd', 's'] };
}

function describe(request: ClassifiedRequest): string {
  const target = request.operation !== undefined ? `$${request.operation} on ${request.path}` : request.path;
  return `${request.interaction} ${target}`;
}

// ---------------------------------------------------------------------------------------------
// Decision helpers

function allow(reason: string, extra: Omit<AccessAllowed, 'allow' | 'reason'> = {}): AccessAllowed {
  return { allow: true, reason, ...extra };
}

function deny(status: AccessDenied['status'], reason: string, extra: Omit<AccessDenied, 'allow' | 'status' | 'reason'> = {}): AccessDenied {
  return { allow: false, status, reason, ...extra };
}

function denyForScope(honoured: HonouredScopes, what: string, requirement: Requirement): AccessDenied {
  const neededScope = formatScope(honoured.context, requirement.resourceType, requirement.permissions);
  const notes = honoured.notes.length > 0 ? ` (${honoured.notes.join('; ')})` : '';
  return deny(403, `${what} needs scope ${neededScope}${notes}`, { neededScope });
}

function mergeQueries(queries: URLSearchParams[]): URLSearchParams {
  const merged = new URLSearchParams();
  for (const query of queries) for (const [name, value] of query) merged.append(name, value);
  return merged;
}

/** Every search parameter the upstream will see: the URL query plus a form-encoded body. */
function effectiveParams(request: ClassifiedRequest, facts: FhirRequestFacts): URLSearchParams | { error: string } | 'needs-body' {
  if (!request.needsBody || request.interaction === 'batch' || request.interaction === 'transaction') return facts.query;
  if (facts.body === undefined) return 'needs-body';
  const form = formParameters(facts.body);
  if (form === undefined) return { error: '_search expects an application/x-www-form-urlencoded body' };
  return mergeQueries([facts.query, form]);
}

// ---------------------------------------------------------------------------------------------
// Other types a search reaches

interface ReachOutcome {
  /** Some returned type is only granted through a patient/ scope: responses must be checked. */
  returnsConfined: boolean;
  /** Set when an untyped _include may return types the token cannot read: the types it may keep. */
  includeFilter?: string[];
}

/** The candidate types of an untyped _include that the token can read without a granular restriction. */
function readableCandidates(honoured: HonouredScopes, candidates: readonly string[]): { types: string[]; confined: boolean } {
  const types: string[] = [];
  let confined = false;
  for (const type of candidates) {
    const granted = coverage(honoured, type, ['r'], new URLSearchParams());
    if (granted === undefined || granted.granular.length > 0) continue;
    types.push(type);
    if (granted.confinedTo !== undefined && isPatientDataType(type)) confined = true;
  }
  return { types, confined };
}

function describeCandidates(candidates: readonly string[]): string {
  return candidates.length >= R4_RESOURCE_TYPES.size ? 'any resource type' : candidates.join(', ');
}

/**
 * Every type a search returns (includes) needs `r`, every type it searches through (chains,
 * `_has`) needs `s`. Granular scopes cannot vouch for resources reached this way, and a
 * patient-confined scope cannot justify searching through another type on behalf of an
 * unconfined search (it would reveal other patients' data as match criteria).
 */
function checkReach(honoured: HonouredScopes, params: URLSearchParams, mainConfined: boolean, options: DecisionOptions): ReachOutcome | AccessDenied {
  const analysis = analyzeSearchReach(params);
  if ('error' in analysis) return deny(400, analysis.error);
  let returnsConfined = false;
  let filtered = false;
  const returnedTypes = new Set<string>();
  const checks: [typeof analysis.returned, Permission][] = [
    [analysis.returned, 'r'],
    [analysis.searched, 's'],
  ];
  for (const [reaches, permission] of checks) {
    for (const reach of reaches) {
      const requirement: Requirement = { resourceType: reach.resourceType, permissions: [permission] };
      const granted = coverage(honoured, reach.resourceType, [permission], new URLSearchParams());
      const unrestricted = granted !== undefined && granted.granular.length === 0;
      if (!unrestricted && reach.candidates !== undefined) {
        // An untyped _include: fine if some type it may return is readable and the rest is withheld.
        const readable = readableCandidates(honoured, reach.candidates);
        const what = `parameter ${reach.via} (reaches ${describeCandidates(reach.candidates)})`;
        if (readable.types.length === 0) return denyForScope(honoured, `${what}, none of which this token can read,`, requirement);
        if (!options.filterIncludes) return denyForScope(honoured, what, requirement);
        filtered = true;
        for (const type of readable.types) returnedTypes.add(type);
        if (readable.confined) returnsConfined = true;
        continue;
      }
      const what = `parameter ${reach.via} (reaches ${reach.resourceType === '*' ? 'any resource type' : reach.resourceType})`;
      if (!unrestricted) return denyForScope(honoured, what, requirement);
      const confined = granted.confinedTo !== undefined && (reach.resourceType === '*' || isPatientDataType(reach.resourceType));
      if (confined && permission === 's' && !mainConfined) return denyForScope({ ...honoured, context: 'user' }, what, requirement);
      if (confined) returnsConfined = true;
      if (permission === 'r') returnedTypes.add(reach.resourceType);
    }
  }
  // A '*' type that passed means every type is readable: nothing to withhold.
  const needsFilter = filtered && !returnedTypes.has('*');
  return { returnsConfined, ...(needsFilter ? { includeFilter: [...returnedTypes] } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Patient context

function bodyResourceProblem(body: unknown, request: ClassifiedRequest, patientId: string): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'the body is not a FHIR resource';
  const resource = body as Record<string, unknown>;
  if (resource['resourceType'] !== request.resourceType) return `the body is not a ${request.resourceType ?? 'resource'}`;
  if (request.id !== undefined && resource['id'] !== request.id) return 'the body id does not match the URL';
  if (!resourceInPatientCompartment(resource, patientId)) {
    return `the ${request.resourceType} does not belong to Patient/${patientId} (no compartment reference to it)`;
  }
  return undefined;
}

type BodyCheck = 'resource' | 'patch';

/** Applies the patient's body rule, or asks for the body. */
function withBodyCheck(kind: BodyCheck, request: ClassifiedRequest, facts: FhirRequestFacts, patientId: string, decision: AccessAllowed): AccessDecision {
  if (facts.body === undefined) {
    return { ...decision, needsBody: true, checkRequestBody: { ...decision.checkRequestBody, compartmentPatient: patientId } };
  }
  const problem = kind === 'patch' ? jsonPatchCompartmentProblem(facts.body, request.resourceType ?? '', patientId) : bodyResourceProblem(facts.body, request, patientId);
  return problem === undefined ? decision : deny(403, problem);
}

function confinedSearch(resourceType: string, params: URLSearchParams, patientId: string, reason: string): AccessDecision {
  const confinement = confineSearchToPatient(resourceType, params, patientId);
  if (!confinement.ok) return deny(403, confinement.reason);
  return allow(reason, {
    ...(confinement.addQuery ? { addQuery: [confinement.addQuery] } : {}),
    checkResponse: { compartmentPatient: patientId },
  });
}

/** The rules for a request on patient data granted only through patient/ scopes. */
function decideForPatient(request: ClassifiedRequest, facts: FhirRequestFacts, params: URLSearchParams, patientId: string): AccessDecision {
  const type = request.resourceType ?? '*';
  const isOwnPatient = type === 'Patient' && request.id === patientId;
  const reason = `allowed within Patient/${patientId}'s compartment`;
  const outside = (what: string) => deny(403, `${what} cannot be confined to Patient/${patientId}`);
  switch (request.interaction) {
    case 'read':
    case 'vread':
    case 'history-instance':
      if (type === 'Patient') return isOwnPatient ? allow(reason) : deny(403, `Patient/${request.id ?? ''} is not the patient in context`);
      return allow(reason, { checkResponse: { compartmentPatient: patientId } });
    case 'search-type':
      return confinedSearch(type, params, patientId, reason);
    case 'search-compartment': {
      const owner = request.compartment;
      if (owner?.type === 'Patient') {
        return owner.id === patientId ? allow(reason, { checkResponse: { compartmentPatient: patientId } }) : deny(403, `Patient/${owner.id} is not the patient in context`);
      }
      return type === '*' ? outside(describe(request)) : confinedSearch(type, params, patientId, reason);
    }
    case 'create':
      return withBodyCheck('resource', request, facts, patientId, allow(reason));
    case 'update':
      if (type === 'Patient' && !isOwnPatient) return deny(403, `Patient/${request.id ?? ''} is not the patient in context`);
      return withBodyCheck('resource', request, facts, patientId, allow(reason, isOwnPatient ? {} : { checkCurrentResource: { compartmentPatient: patientId } }));
    case 'patch':
      if (type === 'Patient') return isOwnPatient ? allow(reason) : deny(403, `Patient/${request.id ?? ''} is not the patient in context`);
      return withBodyCheck('patch', request, facts, patientId, allow(reason, { checkCurrentResource: { compartmentPatient: patientId } }));
    case 'delete':
      if (type === 'Patient') return isOwnPatient ? allow(reason) : deny(403, `Patient/${request.id ?? ''} is not the patient in context`);
      return allow(reason, { checkCurrentResource: { compartmentPatient: patientId } });
    case 'conditional-create': {
      const criteria = new URLSearchParams(headerValue(facts.headers, 'if-none-exist') ?? '');
      const confinement = confineSearchToPatient(type, criteria, patientId);
      if (!confinement.ok) return deny(403, confinement.reason);
      if (confinement.addQuery) {
        return deny(403, `If-None-Exist must name the patient in context (add ${confinement.addQuery[0]}=${confinement.addQuery[1]})`);
      }
      return withBodyCheck('resource', request, facts, patientId, allow(reason));
    }
    case 'conditional-update':
    case 'conditional-patch':
    case 'conditional-delete': {
      const confined = confinedSearch(type, params, patientId, reason);
      if (!confined.allow || request.interaction === 'conditional-delete') return confined;
      const kind: BodyCheck = request.interaction === 'conditional-patch' ? 'patch' : 'resource';
      return withBodyCheck(kind, request, facts, patientId, confined);
    }
    case 'operation-type':
    case 'operation-instance':
    case 'operation-system': {
      const use = operationRule(request).patientUse;
      if (use === 'own-patient-instance' && request.interaction === 'operation-instance' && isOwnPatient) {
        return allow(reason, { checkResponse: { compartmentPatient: patientId } });
      }
      if (use === 'confine-as-search' && request.resourceType !== undefined && request.interaction === 'operation-type') {
        return confinedSearch(request.resourceType, params, patientId, reason);
      }
      return outside(describe(request));
    }
    default:
      return outside(describe(request));
  }
}

// ---------------------------------------------------------------------------------------------
// Granular (v2 ?query) scopes

/** Turns the granular restrictions of the granting scopes into instructions, or refuses. */
function applyGranular(request: ClassifiedRequest, decision: AccessAllowed, granular: URLSearchParams[]): AccessDecision {
  if (granular.length === 0) return decision;
  const restriction = mergeQueries(granular);
  const interaction = request.interaction;
  const searchable =
    interaction === 'search-type' ||
    (interaction === 'search-compartment' && request.resourceType !== '*') ||
    interaction === 'conditional-update' ||
    interaction === 'conditional-patch' ||
    interaction === 'conditional-delete' ||
    (interaction === 'operation-type' && operationRule(request).patientUse === 'confine-as-search');
  if (searchable) {
    const withQuery: AccessAllowed = { ...decision, addQuery: [...(decision.addQuery ?? []), ...restriction] };
    // A conditional update also writes the body, which must stay inside the restriction.
    return interaction === 'conditional-update' ? { ...withQuery, checkRequestBody: { ...decision.checkRequestBody, granularQuery: restriction } } : withQuery;
  }
  if (interaction === 'read' || interaction === 'vread' || interaction === 'history-instance') {
    return { ...decision, checkResponse: { ...decision.checkResponse, granularQuery: restriction } };
  }
  if (interaction === 'create' || interaction === 'update' || interaction === 'conditional-create') {
    return { ...decision, checkRequestBody: { ...decision.checkRequestBody, granularQuery: restriction } };
  }
  if (interaction === 'patch' || interaction === 'delete') {
    return { ...decision, checkCurrentResource: { ...decision.checkCurrentResource, granularQuery: restriction } };
  }
  return deny(403, `${describe(request)} cannot be limited to the granular scope restriction ${restriction.toString()}`);
}

// ---------------------------------------------------------------------------------------------
// One interaction

function decideInteraction(request: ClassifiedRequest, facts: FhirRequestFacts, honoured: HonouredScopes, options: DecisionOptions): AccessDecision {
  const params = effectiveParams(request, facts);
  if (typeof params === 'object' && 'error' in params) return deny(400, params.error);
  const known = params === 'needs-body' ? facts.query : params;
  const requirement = requirementFor(request);
  const granted = coverage(honoured, requirement.resourceType, requirement.permissions, known);
  if (granted === undefined) return denyForScope(honoured, describe(request), requirement);

  const patientData = requirement.resourceType === '*' || isPatientDataType(requirement.resourceType);
  const confinedTo = patientData ? granted.confinedTo : undefined;
  // Every interaction, not only searches: a server that honours _include on a read must not
  // become a way around the scope check.
  const reach = checkReach(honoured, known, confinedTo !== undefined, options);
  if ('allow' in reach) return reach;

  let decision: AccessDecision = confinedTo !== undefined ? decideForPatient(request, facts, known, confinedTo) : allow(`${describe(request)} granted`);
  if (!decision.allow) return decision;
  if (reach.returnsConfined && honoured.patient !== undefined) {
    decision = { ...decision, checkResponse: { ...decision.checkResponse, compartmentPatient: honoured.patient } };
  }
  decision = applyGranular(request, decision, granted.granular);
  if (decision.allow && params === 'needs-body') decision = { ...decision, needsBody: true };
  if (decision.allow && reach.includeFilter !== undefined) {
    // The searched type's own entries (matches, or includes of that type) are always readable.
    const searched = request.resourceType !== undefined && request.resourceType !== '*' ? [request.resourceType] : [];
    decision = { ...decision, filterIncludes: { readableTypes: [...new Set([...reach.includeFilter, ...searched])].sort() } };
  }
  return decision;
}

// ---------------------------------------------------------------------------------------------
// Batch and transaction Bundles

/** A batch/transaction PATCH entry carries its JSON Patch as a Binary (R4 http.html#patch). */
function entryBody(method: string, resource: unknown): unknown {
  if (method !== 'PATCH' || resource === null || typeof resource !== 'object') return resource;
  const binary = resource as { resourceType?: unknown; data?: unknown };
  if (binary.resourceType !== 'Binary' || typeof binary.data !== 'string') return resource;
  try {
    return JSON.parse(Buffer.from(binary.data, 'base64').toString('utf8')) as unknown;
  } catch {
    return resource;
  }
}

function entryFacts(entry: unknown): FhirRequestFacts | string {
  if (entry === null || typeof entry !== 'object') return 'the entry is not an object';
  const { request, resource } = entry as { request?: unknown; resource?: unknown };
  if (request === null || typeof request !== 'object') return 'the entry has no request';
  const { method, url, ifNoneExist } = request as { method?: unknown; url?: unknown; ifNoneExist?: unknown };
  if (typeof method !== 'string' || typeof url !== 'string') return 'the entry request needs a method and a url';
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(url)) return `absolute entry URL "${url}" is not allowed (use a URL relative to the FHIR base)`;
  const queryStart = url.indexOf('?');
  const path = queryStart === -1 ? url : url.slice(0, queryStart);
  const query = new URLSearchParams(queryStart === -1 ? '' : url.slice(queryStart + 1));
  const headers: FhirRequestFacts['headers'] = typeof ifNoneExist === 'string' ? { 'if-none-exist': ifNoneExist } : {};
  const upper = method.toUpperCase();
  return { method: upper, rawPath: path.startsWith('/') ? path : `/${path}`, query, headers, body: entryBody(upper, resource) };
}

/**
 * Why an allowed entry still cannot run inside a Bundle: the proxy forwards the Bundle as is, so
 * it cannot add parameters to, or pre-check the target of, one entry.
 */
function entryInstructionProblem(decision: AccessAllowed): string | undefined {
  if (decision.addQuery) {
    const needed = decision.addQuery.map(([name, value]) => `${name}=${value}`).join('&');
    return `the entry must state its restriction explicitly (add ${needed})`;
  }
  if (decision.needsBody) return 'the entry has no resource';
  if (decision.checkCurrentResource) return 'this write needs a check of the stored resource, which the gateway does not do inside a Bundle';
  if (decision.checkRequestBody?.granularQuery || decision.checkResponse?.granularQuery) return 'granular scopes are not supported inside a Bundle';
  return undefined;
}

function decideBundle(facts: FhirRequestFacts, claims: ScopeClaims): AccessDecision {
  if (facts.body === undefined) return allow('a Bundle is decided entry by entry', { needsBody: true });
  const bundle = facts.body;
  if (bundle === null || typeof bundle !== 'object' || Array.isArray(bundle)) return deny(400, 'the body is not a JSON object');
  const { resourceType, type, entry } = bundle as { resourceType?: unknown; type?: unknown; entry?: unknown };
  if (resourceType !== 'Bundle') return deny(400, 'POST to the FHIR base expects a Bundle');
  if (type !== 'batch' && type !== 'transaction') return deny(400, `Bundle type "${String(type)}" cannot be processed; use batch or transaction`);
  const entries = entry ?? [];
  if (!Array.isArray(entries)) return deny(400, 'Bundle.entry is not an array');
  if (entries.length > MAX_BUNDLE_ENTRIES) return deny(413, `a Bundle may have at most ${MAX_BUNDLE_ENTRIES} entries`);

  const deniedEntries: { index: number; reason: string }[] = [];
  let compartmentPatient: string | undefined;
  for (const [index, item] of entries.entries()) {
    const facts = entryFacts(item);
    if (typeof facts === 'string') {
      deniedEntries.push({ index, reason: facts });
      continue;
    }
    const classified = classifyRequest(facts);
    if (!('error' in classified) && (classified.interaction === 'batch' || classified.interaction === 'transaction')) {
      deniedEntries.push({ index, reason: 'nested batch/transaction is not allowed' });
      continue;
    }
    // No options: the Bundle is forwarded as is, so no entry's response can be filtered.
    const decision = decideAccess(facts, claims);
    const problem = decision.allow ? entryInstructionProblem(decision) : decision.reason;
    if (problem !== undefined) deniedEntries.push({ index, reason: problem });
    else if (decision.allow && decision.checkResponse?.compartmentPatient) compartmentPatient = decision.checkResponse.compartmentPatient;
  }
  if (deniedEntries.length > 0) {
    const list = deniedEntries.map((denied) => `entry ${denied.index}: ${denied.reason}`).join('; ');
    return deny(403, `${deniedEntries.length} of ${entries.length} ${type} entries are not allowed: ${list}`, { deniedEntries });
  }
  return allow(`${type} of ${entries.length} allowed entries`, compartmentPatient ? { checkResponse: { compartmentPatient } } : {});
}

// ---------------------------------------------------------------------------------------------

/**
 * What a token's scopes allow depends on its claims alone, and a token is presented many times
 * (the proxy hands the same verified claims object to every request of a token): parsed once per
 * claims object. A memo of a pure function, keyed weakly so it lives no longer than the claims.
 */
const honouredByClaims = new WeakMap<ScopeClaims, HonouredScopes>();

function honouredScopesOf(claims: ScopeClaims): HonouredScopes {
  let honoured = honouredByClaims.get(claims);
  if (honoured === undefined) {
    honoured = honouredScopes(tokenScopeFacts(claims));
    honouredByClaims.set(claims, honoured);
  }
  return honoured;
}

/** Claims are typed loosely upstream; anything not a string grants nothing. */
function tokenScopeFacts(claims: ScopeClaims): ScopeClaims {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const patient = text(claims.patient);
  const fhirUser = text(claims.fhirUser);
  return { scope: text(claims.scope) ?? '', ...(patient !== undefined ? { patient } : {}), ...(fhirUser !== undefined ? { fhirUser } : {}) };
}

/** Decides one FHIR request for one token. */
export function decideAccess(facts: FhirRequestFacts, claims: ScopeClaims, options: DecisionOptions = {}): AccessDecision {
  return decideClassified(classifyRequest(facts), facts, claims, options);
}

/** decideAccess for a caller that has already classified `facts` (the proxy does, for its audit record). */
export function decideClassified(request: ReturnType<typeof classifyRequest>, facts: FhirRequestFacts, claims: ScopeClaims, options: DecisionOptions = {}): AccessDecision {
  if ('error' in request) return deny(request.status, request.error);
  if (request.interaction === 'capabilities' || request.interaction === 'well-known') return allow('public endpoint');
  if (request.interaction === 'batch' || request.interaction === 'transaction') return decideBundle(facts, claims);
  return decideInteraction(request, facts, honouredScopesOf(claims), options);
}
