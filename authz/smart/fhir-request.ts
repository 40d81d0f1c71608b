/**
 * Turns an incoming FHIR REST request into facts the access decision can reason about:
 * a canonical path (so the decision and the forwarded request agree on what is asked for), the
 * FHIR interaction (R4 http.html), and the other resource types a search reaches through
 * `_include`, `_revinclude`, chained parameters and `_has` (R4 search.html).
 */
import { isR4ResourceType } from './patient-compartment.js';
import { referenceSearchTargets } from './reference-targets.js';

export interface FhirRequestFacts {
  method: string;
  /** Path relative to the FHIR base, as received (still percent-encoded), e.g. "/Patient/123". */
  rawPath: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  /**
   * The request body, when the decision asked for it (`needsBody`): parsed JSON for resources and
   * Bundles; for a form-encoded POST `_search`, URLSearchParams or the raw form string.
   */
  body?: unknown;
}

type NormalizedPath = { ok: true; segments: string[]; path: string } | { ok: false; reason: string };

export type Interaction =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'create'
  | 'search-type'
  | 'search-system'
  | 'search-compartment'
  | 'conditional-create'
  | 'conditional-update'
  | 'conditional-patch'
  | 'conditional-delete'
  | 'operation-system'
  | 'operation-type'
  | 'operation-instance'
  | 'capabilities'
  | 'well-known'
  | 'batch'
  | 'transaction';

export interface ClassifiedRequest {
  interaction: Interaction;
  /** Upper-case method; HEAD is reported as GET (same authorization as the GET it mirrors). */
  method: string;
  /** The normalized path; forward this one. */
  path: string;
  resourceType?: string;
  id?: string;
  versionId?: string;
  /** For search-compartment: the compartment owner; resourceType is then the searched type or '*'. */
  compartment?: { type: string; id: string };
  /** Operation name without the `$`. */
  operation?: string;
  /** The decision cannot be made without the body (batch/transaction, form-encoded `_search`). */
  needsBody: boolean;
}

interface ClassificationError {
  error: string;
  status: 400 | 404 | 405;
}

// Segment checks happen after one percent-decoding; anything that could be decoded again, split
// into more segments, or read as a path parameter by the upstream is refused instead of guessed.
const FORBIDDEN_DECODED = /[/\\;%?#]/;
const PRINTABLE_ASCII = /^[\x21-\x7e]*$/;

/** Canonicalizes a FHIR-base-relative path, refusing every ambiguous spelling. */
export function normalizePath(rawPath: string): NormalizedPath {
  if (rawPath === '' || rawPath === '/') return { ok: true, segments: [], path: '/' };
  if (!rawPath.startsWith('/')) return { ok: false, reason: 'path must start with "/"' };
  if (!PRINTABLE_ASCII.test(rawPath)) return { ok: false, reason: 'path contains non-printable or non-ASCII characters' };
  // One trailing slash is harmless ("/Patient/" = "/Patient"); interior empty segments are not.
  const trimmed = rawPath.length > 1 && rawPath.endsWith('/') ? rawPath.slice(0, -1) : rawPath;
  const segments: string[] = [];
  let changed = trimmed !== rawPath;
  for (const rawSegment of trimmed.slice(1).split('/')) {
    if (rawSegment === '') return { ok: false, reason: 'empty path segment ("//")' };
    if (rawSegment.includes(';')) return { ok: false, reason: 'path parameters (";") are not allowed' };
    let segment = rawSegment;
    // Most paths carry no percent-encoding: nothing to decode, and the printable check on the
    // whole path above already covers the segment.
    if (rawSegment.includes('%')) {
      try {
        segment = decodeURIComponent(rawSegment);
      } catch {
        return { ok: false, reason: `malformed percent-encoding in "${rawSegment}"` };
      }
      if (!PRINTABLE_ASCII.test(segment)) return { ok: false, reason: `encoded control or non-ASCII character in "${rawSegment}"` };
      changed = true;
    }
    if (FORBIDDEN_DECODED.test(segment)) return { ok: false, reason: `encoded delimiter in path segment "${rawSegment}"` };
    if (segment === '.' || segment === '..') return { ok: false, reason: 'dot segments are not allowed' };
    segments.push(segment);
  }
  return { ok: true, segments, path: changed ? '/' + segments.join('/') : rawPath };
}

/** Looks a header up case-insensitively (callers may pass raw or Node-lowercased names). */
export function headerValue(headers: FhirRequestFacts['headers'], name: string): string | undefined {
  const wanted = name.toLowerCase();
  const direct = headers[wanted];
  if (direct !== undefined) return Array.isArray(direct) ? direct.join(',') : direct;
  for (const key in headers) {
    const value = headers[key];
    if (value === undefined || key.toLowerCase() !== wanted) continue;
    return Array.isArray(value) ? value.join(',') : value;
  }
  return undefined;
}

/** The first of `names` (lowercase) present among the headers, whatever its case, in one pass. */
function firstHeaderPresent(headers: FhirRequestFacts['headers'], names: ReadonlySet<string>): string | undefined {
  for (const key in headers) {
    if (headers[key] === undefined) continue;
    const lower = key.toLowerCase();
    if (names.has(lower)) return lower;
  }
  return undefined;
}

const METHOD_OVERRIDE_HEADERS: ReadonlySet<string> = new Set(['x-http-method-override', 'x-method-override', 'x-http-method']);
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const OPERATION = /^\$[A-Za-z][A-Za-z0-9\-_]*$/;
/** R4 compartments (compartmentdefinition.html): valid owners of `/Type/id/Type2` searches. */
const COMPARTMENT_TYPES: ReadonlySet<string> = new Set(['Patient', 'Encounter', 'RelatedPerson', 'Practitioner', 'Device']);

function fail(status: ClassificationError['status'], error: string): ClassificationError {
  return { error, status };
}

function isEmptyQuery(query: URLSearchParams): boolean {
  return [...query.keys()].length === 0;
}

function bundleInteraction(body: unknown): Interaction {
  const type = body !== null && typeof body === 'object' ? (body as { type?: unknown }).type : undefined;
  return type === 'transaction' ? 'transaction' : 'batch';
}

function classifySystemLevel(method: string, segments: string[], facts: FhirRequestFacts): Omit<ClassifiedRequest, 'method' | 'path'> | ClassificationError {
  const [first] = segments;
  if (first === undefined) {
    if (method === 'GET') return { interaction: 'search-system', needsBody: false };
    // The body decides batch vs transaction; until it is seen, assume the stricter reading (batch).
    if (method === 'POST') return { interaction: bundleInteraction(facts.body), needsBody: true };
    return fail(405, `${method} is not allowed on the FHIR base`);
  }
  if (segments.length > 1 && first !== '.well-known') return fail(404, `unknown path /${segments.join('/')}`);
  if (first === 'metadata') return method === 'GET' ? { interaction: 'capabilities', needsBody: false } : fail(405, 'metadata is read-only');
  if (first === '.well-known') return method === 'GET' ? { interaction: 'well-known', needsBody: false } : fail(405, '.well-known is read-only');
  if (first === '_history') return method === 'GET' ? { interaction: 'history-system', needsBody: false } : fail(405, 'history is read-only');
  if (first === '_search') return method === 'POST' ? { interaction: 'search-system', needsBody: true } : fail(405, '_search requires POST');
  if (first.startsWith('$')) return classifyOperation(method, first, { interaction: 'operation-system' });
  return fail(404, `unknown resource type "${first}"`);
}

function classifyOperation(
  method: string,
  segment: string,
  base: Pick<ClassifiedRequest, 'interaction' | 'resourceType' | 'id'>,
): Omit<ClassifiedRequest, 'method' | 'path'> | ClassificationError {
  if (!OPERATION.test(segment)) return fail(400, `invalid operation name "${segment}"`);
  if (method !== 'GET' && method !== 'POST') return fail(405, `operations are invoked with GET or POST, not ${method}`);
  return { ...base, operation: segment.slice(1), needsBody: false };
}

function classifyTypeLevel(method: string, resourceType: string, facts: FhirRequestFacts): Omit<ClassifiedRequest, 'method' | 'path'> | ClassificationError {
  const conditional = !isEmptyQuery(facts.query);
  switch (method) {
    case 'GET':
      return { interaction: 'search-type', resourceType, needsBody: false };
    case 'POST':
      return {
        interaction: headerValue(facts.headers, 'if-none-exist') !== undefined ? 'conditional-create' : 'create',
        resourceType,
        needsBody: false,
      };
    case 'PUT':
      return conditional ? { interaction: 'conditional-update', resourceType, needsBody: false } : fail(400, 'PUT on a type needs search criteria (conditional update)');
    case 'PATCH':
      return conditional ? { interaction: 'conditional-patch', resourceType, needsBody: false } : fail(400, 'PATCH on a type needs search criteria (conditional patch)');
    case 'DELETE':
      // Without criteria a conditional delete would match every resource of the type.
      return conditional ? { interaction: 'conditional-delete', resourceType, needsBody: false } : fail(400, 'DELETE on a type needs search criteria (conditional delete)');
    default:
      return fail(405, `${method} is not a FHIR interaction`);
  }
}

const INSTANCE_INTERACTIONS: Readonly<Record<string, Interaction>> = { GET: 'read', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

function classifyInstance(method: string, resourceType: string, id: string): Omit<ClassifiedRequest, 'method' | 'path'> | ClassificationError {
  if (!ID.test(id)) return fail(400, `invalid resource id "${id}"`);
  const interaction = Object.hasOwn(INSTANCE_INTERACTIONS, method) ? INSTANCE_INTERACTIONS[method] : undefined;
  return interaction ? { interaction, resourceType, id, needsBody: false } : fail(405, `${method} is not allowed on a resource instance`);
}

function classifyTyped(method: string, segments: string[], facts: FhirRequestFacts): Omit<ClassifiedRequest, 'method' | 'path'> | ClassificationError {
  const [resourceType, second, third, fourth] = segments as [string, string | undefined, string | undefined, string | undefined];
  if (!isR4ResourceType(resourceType)) return fail(404, `unknown resource type "${resourceType}"`);
  if (second === undefined) return classifyTypeLevel(method, resourceType, facts);
  if (segments.length === 2) {
    if (second === '_history') return method === 'GET' ? { interaction: 'history-type', resourceType, needsBody: false } : fail(405, 'history is read-only');
    if (second === '_search') return method === 'POST' ? { interaction: 'search-type', resourceType, needsBody: true } : fail(405, '_search requires POST');
    if (second.startsWith('$')) return classifyOperation(method, second, { interaction: 'operation-type', resourceType });
    return classifyInstance(method, resourceType, second);
  }
  if (!ID.test(second)) return fail(400, `invalid resource id "${second}"`);
  if (segments.length === 3 && third !== undefined) {
    if (third === '_history') return method === 'GET' ? { interaction: 'history-instance', resourceType, id: second, needsBody: false } : fail(405, 'history is read-only');
    if (third.startsWith('$')) return classifyOperation(method, third, { interaction: 'operation-instance', resourceType, id: second });
    if (!COMPARTMENT_TYPES.has(resourceType)) return fail(404, `${resourceType} does not define a compartment`);
    if (third !== '*' && !isR4ResourceType(third)) return fail(404, `unknown resource type "${third}"`);
    if (method !== 'GET') return fail(405, 'compartment search uses GET');
    return { interaction: 'search-compartment', resourceType: third, compartment: { type: resourceType, id: second }, needsBody: false };
  }
  if (segments.length === 4 && third === '_history' && fourth !== undefined) {
    if (!ID.test(fourth)) return fail(400, `invalid version id "${fourth}"`);
    return method === 'GET' ? { interaction: 'vread', resourceType, id: second, versionId: fourth, needsBody: false } : fail(405, 'a version is read-only');
  }
  return fail(404, `unknown path /${segments.join('/')}`);
}

/**
 * Classifies a request as one FHIR interaction. Refuses method-override mechanisms outright:
 * the gateway authorizes the method it sees, so a header or `_method` parameter that makes the
 * upstream execute a different one would bypass the decision.
 */
export function classifyRequest(facts: FhirRequestFacts): ClassifiedRequest | ClassificationError {
  const override = firstHeaderPresent(facts.headers, METHOD_OVERRIDE_HEADERS);
  if (override !== undefined) return fail(400, `method override header ${override} is not allowed`);
  if (facts.query.has('_method')) return fail(400, 'the _method parameter is not allowed');
  const normalized = normalizePath(facts.rawPath);
  if (!normalized.ok) return fail(400, normalized.reason);
  const upper = facts.method.toUpperCase();
  const method = upper === 'HEAD' ? 'GET' : upper;
  const { segments, path } = normalized;
  const first = segments[0];
  const isSystemLevel = first === undefined || first.startsWith('$') || first.startsWith('_') || first === 'metadata' || first === '.well-known';
  const result = isSystemLevel ? classifySystemLevel(method, segments, facts) : classifyTyped(method, segments, facts);
  return 'error' in result ? result : { ...result, method, path };
}

/**
 * Reference search parameter names that target exactly one resource type wherever R4 defines
 * them (derived from the R4 search-parameters bundle). Used to resolve an untyped chain or
 * `_include` (`patient.name`, `Observation:patient`); any other untyped reference parameter is
 * ambiguous and is treated as reaching every type.
 */
const SINGLE_TARGET_REFERENCE_PARAMS: ReadonlyMap<string, string> = new Map([
  ['account', 'Account'],
  ['administered-by', 'Organization'],
  ['appointment', 'Appointment'],
  ['authority', 'Organization'],
  ['beneficiary', 'Patient'],
  ['care-manager', 'Practitioner'],
  ['claim', 'Claim'],
  ['component', 'SearchParameter'],
  ['composition', 'Composition'],
  ['condition', 'Condition'],
  ['coverage', 'Coverage'],
  ['coverage-area', 'Location'],
  ['custodian', 'Organization'],
  ['destination', 'Location'],
  ['detail-udi', 'Device'],
  ['domain', 'Location'],
  ['endpoint', 'Endpoint'],
  ['episode-of-care', 'EpisodeOfCare'],
  ['facility', 'Location'],
  ['global', 'StructureDefinition'],
  ['goal', 'Goal'],
  ['guide', 'ImplementationGuide'],
  ['holder', 'Organization'],
  ['immunization-event', 'Immunization'],
  ['incoming-referral', 'ServiceRequest'],
  ['individual', 'Patient'],
  ['input-profile', 'StructureDefinition'],
  ['insurer', 'Organization'],
  ['intended-dispenser', 'Organization'],
  ['issuer', 'Organization'],
  ['item-udi', 'Device'],
  ['location', 'Location'],
  ['manufacturer', 'Organization'],
  ['measure', 'Measure'],
  ['media', 'Media'],
  ['medication', 'Medication'],
  ['message', 'MessageHeader'],
  ['network', 'Organization'],
  ['organization', 'Organization'],
  ['other', 'ConceptMap'],
  ['output-profile', 'StructureDefinition'],
  ['owned-by', 'Organization'],
  ['participating-organization', 'Organization'],
  ['patient', 'Patient'],
  ['payment-issuer', 'Organization'],
  ['performing-organization', 'Organization'],
  ['practitioner', 'Practitioner'],
  ['prescription', 'MedicationRequest'],
  ['previous', 'ClinicalImpression'],
  ['primary-organization', 'Organization'],
  ['procedure-udi', 'Device'],
  ['protocol', 'PlanDefinition'],
  ['questionnaire', 'Questionnaire'],
  ['reaction', 'Observation'],
  ['relatedperson', 'RelatedPerson'],
  ['relatesto', 'DocumentReference'],
  ['requesting-organization', 'Organization'],
  ['resource-profile', 'StructureDefinition'],
  ['result', 'Observation'],
  ['resultingcondition', 'Condition'],
  ['schedule', 'Schedule'],
  ['service-provider', 'Organization'],
  ['site', 'Location'],
  ['slot', 'Slot'],
  ['source-uri', 'ValueSet'],
  ['specimen', 'Specimen'],
  ['sponsor', 'Organization'],
  ['study', 'ResearchStudy'],
  ['subdetail-udi', 'Device'],
  ['substance-reference', 'Substance'],
  ['supplements', 'CodeSystem'],
  ['supported-profile', 'StructureDefinition'],
  ['target-uri', 'ValueSet'],
  ['testscript', 'TestScript'],
  ['valueset', 'ValueSet'],
]);

/** Another resource type a search touches, and the parameter that makes it do so. */
interface SearchReach {
  /** The parameter as written, e.g. "_include", "subject:Patient.name", "_has:Observation:patient:code". */
  via: string;
  /** An R4 type, or '*' when it cannot be narrowed. */
  resourceType: string;
  /**
   * For an untyped `_include=Source:param` whose parameter may point at more than one type
   * (resourceType '*'): every type R4 lets it return (authz/smart/reference-targets.ts). Absent
   * when nothing is known about the parameter.
   */
  candidates?: readonly string[];
}

interface SearchReachAnalysis {
  /** Types whose resources are returned (`_include`, `_revinclude`): need read. */
  returned: SearchReach[];
  /** Types searched through (chains, `_has`, `_filter`, `_query`): need search. */
  searched: SearchReach[];
  /** The request carries a server paging token (`_getpages`, `_cursor`, `_page_token`). */
  pagingToken: boolean;
}

/**
 * Opaque server paging handles. A request carrying one is only as safe as the search it continues,
 * which the gateway cannot see: the decision applies the normal rules to the type and parameters
 * the request does carry (no type -> system search -> `*` scope), and the proxy signs the paging
 * links it returns so a handle cannot be replayed with other parameters. `_offset`/`_count` are
 * ordinary parameters: they page through the search the request itself states.
 */
export const PAGING_TOKEN_PARAMETERS: readonly string[] = ['_getpages', '_cursor', '_page_token'];

function referenceTarget(param: string, typeModifier: string | undefined): string | undefined {
  if (typeModifier !== undefined) return isR4ResourceType(typeModifier) ? typeModifier : undefined;
  return SINGLE_TARGET_REFERENCE_PARAMS.get(param) ?? '*';
}

/** `Source:param[:Target]` of an _include/_revinclude value; `*` means every reference. */
function parseIncludeValue(value: string): { source: string; param: string; target?: string } | '*' | undefined {
  if (value === '*') return '*';
  const [source = '', param, target, extra] = value.split(':');
  if (!isR4ResourceType(source) || !param || extra !== undefined) return undefined;
  if (param === '*') return '*';
  if (target !== undefined && !isR4ResourceType(target)) return undefined;
  return target === undefined ? { source, param } : { source, param, target };
}

/** Types reached by a chained parameter name such as `subject:Patient.organization.name`. */
function chainTargets(key: string): string[] | undefined {
  const links = key.split('.');
  // The last link is an ordinary parameter of the final type, unless it is a reverse chain.
  const last = links.pop() ?? '';
  const targets: string[] = [];
  if (last.startsWith('_has:')) {
    const reverse = reverseChainTargets(last);
    if (reverse === undefined) return undefined;
    targets.push(...reverse);
  }
  for (const link of links) {
    const [param = '', typeModifier, extra] = link.split(':');
    if (param === '' || extra !== undefined) return undefined;
    const target = referenceTarget(param, typeModifier);
    if (target === undefined) return undefined;
    targets.push(target);
  }
  return targets;
}

/** Types reached by `_has:Type:param:...` (reverse chains may nest and end in a chain). */
function reverseChainTargets(key: string): string[] | undefined {
  const parts = key.split(':');
  const targets: string[] = [];
  while (parts[0] === '_has') {
    const [, type = '', referenceParam] = parts;
    if (!isR4ResourceType(type) || !referenceParam || parts.length < 4) return undefined;
    targets.push(type);
    parts.splice(0, 3);
  }
  const rest = parts.join(':');
  if (!rest.includes('.')) return targets;
  const chained = chainTargets(rest);
  return chained === undefined ? undefined : [...targets, ...chained];
}

/**
 * Lists the other resource types a search reaches. Returns an error for malformed
 * `_include`/`_revinclude`/chain/`_has` syntax: guessing what the upstream makes of it could
 * reach types the token has no scope for.
 */
export function analyzeSearchReach(params: URLSearchParams): SearchReachAnalysis | { error: string } {
  const analysis: SearchReachAnalysis = { returned: [], searched: [], pagingToken: false };
  for (const [key, value] of params) {
    const baseKey = key.split(':')[0] ?? '';
    if (baseKey === '_include' || baseKey === '_revinclude') {
      for (const item of value.split(',')) {
        const include = parseIncludeValue(item);
        if (include === undefined) return { error: `malformed ${key} value "${item}"` };
        const resourceType = include === '*' ? '*' : baseKey === '_revinclude' ? include.source : referenceTarget(include.param, include.target) ?? '*';
        // An untyped include of a many-target parameter: which types it may actually return.
        const untyped = include !== '*' && baseKey === '_include' && include.target === undefined && resourceType === '*';
        const candidates = untyped ? referenceSearchTargets(include.source, include.param) : undefined;
        analysis.returned.push({ via: `${key}=${item}`, resourceType, ...(candidates !== undefined ? { candidates } : {}) });
      }
    } else if (baseKey === '_has') {
      const targets = reverseChainTargets(key);
      if (targets === undefined) return { error: `malformed reverse chain "${key}"` };
      for (const resourceType of targets) analysis.searched.push({ via: key, resourceType });
    } else if (baseKey === '_filter' || baseKey === '_query') {
      // _filter expressions can chain anywhere and named queries are server-defined.
      analysis.searched.push({ via: key, resourceType: '*' });
    } else if (PAGING_TOKEN_PARAMETERS.includes(baseKey)) {
      analysis.pagingToken = true;
    } else if (key.includes('.')) {
      const targets = chainTargets(key);
      if (targets === undefined) return { error: `malformed chained parameter "${key}"` };
      for (const resourceType of targets) analysis.searched.push({ via: key, resourceType });
    }
  }
  return analysis;
}

/** Search parameters sent in a form-encoded POST `_search` body. */
export function formParameters(body: unknown): URLSearchParams | undefined {
  if (body instanceof URLSearchParams) return body;
  if (typeof body === 'string') return new URLSearchParams(body);
  return undefined;
}
