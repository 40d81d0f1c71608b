/**
 * SMART App Launch scope grammar (v1 and v2, "Scopes and Launch Context") and the scope algebra
 * the token endpoint and the access decision share.
 *
 * Resource scopes: `(patient|user|system)/(Type|*).(perms)[?query]`
 * - v1 perms `read` (= v2 `rs`), `write` (= `cud`), `*` (= `cruds`);
 * - v2 perms: a non-empty subsequence of `cruds` in that canonical order (`rs` ok, `sr` error);
 * - a v2 granular query (`patient/Observation.rs?category=laboratory`) narrows the scope to
 *   resources matching those search parameters; v1 perms cannot carry one.
 * Other accepted scopes are the identity/context/refresh ones in SPECIAL_SCOPES; anything else is
 * rejected so a typo never silently grants (or fails to grant) access.
 */
import { isR4ResourceType } from './patient-compartment.js';
import type { ScopeClaims } from './token-claims.js';

type ScopeContext = 'patient' | 'user' | 'system';
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

/** Canonical v2 order; also the order used when writing permissions back out. */
export const PERMISSION_ORDER: readonly Permission[] = ['c', 'r', 'u', 'd', 's'];

export interface ResourceScope {
  raw: string;
  context: ScopeContext;
  /** An R4 resource type, or '*'. */
  resourceType: string;
  permissions: Set<Permission>;
  /** v2 granular scope restriction. */
  query?: URLSearchParams;
}

export interface ParsedScopes {
  resourceScopes: ResourceScope[];
  /** Non-resource scopes, in request order: openid, fhirUser, launch, offline_access, ... */
  other: string[];
}

const SPECIAL_SCOPES: ReadonlySet<string> = new Set([
  'openid',
  'fhirUser',
  'profile',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
]);

export class ScopeSyntaxError extends Error {
  constructor(
    readonly scope: string,
    detail: string,
  ) {
    super(`invalid scope "${scope}": ${detail}`);
    this.name = 'ScopeSyntaxError';
  }
}

const RESOURCE_SCOPE = /^(patient|user|system)\/(\*|[A-Za-z]+)\.([^?]+)(?:\?(.*))?$/s;
const V1_PERMISSIONS: Readonly<Record<string, readonly Permission[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};
const V2_PERMISSIONS = /^c?r?u?d?s?$/;

function parsePermissions(raw: string, text: string, hasQuery: boolean): Set<Permission> {
  const v1 = V1_PERMISSIONS[text];
  if (v1) {
    if (hasQuery) throw new ScopeSyntaxError(raw, 'a granular ?query needs v2 permissions (e.g. .rs)');
    return new Set(v1);
  }
  if (text.length === 0 || !V2_PERMISSIONS.test(text)) {
    throw new ScopeSyntaxError(raw, `permissions "${text}" must be read, write, * or a subset of "cruds" in that order`);
  }
  return new Set(text.split('') as Permission[]);
}

function parseGranularQuery(raw: string, text: string): URLSearchParams {
  if (text.length === 0) throw new ScopeSyntaxError(raw, 'empty granular query');
  for (const pair of text.split('&')) {
    const separator = pair.indexOf('=');
    if (separator <= 0 || separator === pair.length - 1) {
      throw new ScopeSyntaxError(raw, `granular query part "${pair}" must be name=value`);
    }
  }
  return new URLSearchParams(text);
}

/** Parses one scope token. Throws ScopeSyntaxError for anything not in the grammar. */
export function parseScope(raw: string): ResourceScope | { special: string } {
  if (SPECIAL_SCOPES.has(raw)) return { special: raw };
  const match = RESOURCE_SCOPE.exec(raw);
  if (!match) throw new ScopeSyntaxError(raw, 'not a SMART resource scope or a known scope');
  const [, context, resourceType, permissionText, queryText] = match as unknown as [string, ScopeContext, string, string, string | undefined];
  if (resourceType !== '*' && !isR4ResourceType(resourceType)) {
    throw new ScopeSyntaxError(raw, `"${resourceType}" is not an R4 resource type`);
  }
  const hasQuery = queryText !== undefined;
  const permissions = parsePermissions(raw, permissionText, hasQuery);
  const scope: ResourceScope = { raw, context, resourceType, permissions };
  if (hasQuery) scope.query = parseGranularQuery(raw, queryText);
  return scope;
}

/** Parses a space-separated scope string (runs of spaces tolerated); throws on the first bad scope. */
export function parseScopes(scopeString: string): ParsedScopes {
  const parsed: ParsedScopes = { resourceScopes: [], other: [] };
  for (const token of scopeString.split(' ')) {
    if (token.length === 0) continue;
    const scope = parseScope(token);
    if ('special' in scope) parsed.other.push(scope.special);
    else parsed.resourceScopes.push(scope);
  }
  return parsed;
}

/** Writes a v2 scope string, e.g. formatScope('system', 'Observation', ['s','r']) -> "system/Observation.rs". */
export function formatScope(context: ScopeContext, resourceType: string, permissions: Iterable<Permission>): string {
  const wanted = new Set(permissions);
  return `${context}/${resourceType}.${PERMISSION_ORDER.filter((p) => wanted.has(p)).join('')}`;
}

/** True when every name=value pair of `restriction` also appears in `query`. */
function queryContains(query: URLSearchParams, restriction: URLSearchParams): boolean {
  for (const [name, value] of restriction) {
    if (!query.getAll(name).includes(value)) return false;
  }
  return true;
}

/**
 * Whether `allowed` grants `permission` on `requested`'s resources: same context, same type or
 * a wildcard, and a granular restriction no wider than the requested one (an unrestricted
 * allowed scope covers any granular request; a granular allowed scope covers only requests that
 * carry at least its parameters).
 */
function covers(allowed: ResourceScope, requested: ResourceScope, permission: Permission): boolean {
  if (allowed.context !== requested.context) return false;
  if (allowed.resourceType !== '*' && allowed.resourceType !== requested.resourceType) return false;
  if (!allowed.permissions.has(permission)) return false;
  if (!allowed.query) return true;
  return requested.query !== undefined && queryContains(requested.query, allowed.query);
}

/**
 * Whether every scope in `requested` is granted by the scopes in `allowed` (used at the token
 * endpoint against a client's registered scopes). Each permission letter may be covered by a
 * different allowed scope (`patient/Observation.r patient/Observation.s` covers
 * `patient/Observation.rs`). Throws ScopeSyntaxError if either string is malformed.
 */
export function isScopeSubset(requested: string, allowed: string): boolean {
  const want = parseScopes(requested);
  const have = parseScopes(allowed);
  if (!want.other.every((special) => have.other.includes(special))) return false;
  return want.resourceScopes.every((scope) =>
    [...scope.permissions].every((permission) => have.resourceScopes.some((grant) => covers(grant, scope, permission))),
  );
}

// ---------------------------------------------------------------------------------------------
// What a token's scopes grant (used by the access decision)

export interface HonouredScopes {
  /**
   * Scopes honoured for this token: system/ only without a user or patient (SMART reserves them
   * for client-credentials tokens), patient/ only with a patient in context.
   */
  scopes: ResourceScope[];
  patient?: string;
  /** Context used to spell a missing scope back to the client. */
  context: ScopeContext;
  /** Why some of the token's scopes were not honoured, for denial messages. */
  notes: string[];
}

function parseTokenScopes(scope: string): ResourceScope[] {
  const scopes: ResourceScope[] = [];
  for (const token of scope.split(' ')) {
    if (token === '') continue;
    try {
      const parsed = parseScope(token);
      if (!('special' in parsed)) scopes.push(parsed);
    } catch {
      // A malformed scope in a token grants nothing; the rest of the token still counts.
    }
  }
  return scopes;
}

export function honouredScopes(token: ScopeClaims): HonouredScopes {
  const all = parseTokenScopes(token.scope);
  const patient = token.patient !== undefined && token.patient !== '' ? token.patient : undefined;
  const hasUser = token.fhirUser !== undefined && token.fhirUser !== '';
  const notes = new Set<string>();
  const scopes = all.filter((scope) => {
    if (scope.context === 'system' && (hasUser || patient !== undefined)) {
      notes.add('system/ scopes are only honoured in backend (client-credentials) tokens');
      return false;
    }
    if (scope.context === 'patient' && patient === undefined) {
      notes.add('patient/ scopes need a patient in context');
      return false;
    }
    return true;
  });
  const has = (context: ScopeContext) => all.some((scope) => scope.context === context);
  const fallback: ScopeContext = patient !== undefined ? 'patient' : hasUser ? 'user' : 'system';
  const context: ScopeContext =
    patient !== undefined && has('patient') ? 'patient' : has('user') ? 'user' : has('system') ? 'system' : has('patient') ? 'patient' : fallback;
  return { scopes, ...(patient !== undefined ? { patient } : {}), context, notes: [...notes] };
}

/** How a set of permissions on one type is granted. */
export interface Coverage {
  /** Set (to the patient id) when some permission is granted only through a patient/ scope. */
  confinedTo?: string;
  /** Granular restrictions the request does not already state; each must hold. */
  granular: URLSearchParams[];
}

/**
 * Prefers, in order: unconfined and unrestricted; unconfined granular; patient-confined. A
 * granular scope whose restriction the request already states counts as unrestricted.
 */
function scopeCost(scope: ResourceScope, params: URLSearchParams): number {
  const restricted = scope.query !== undefined && !queryContains(params, scope.query);
  return (scope.context === 'patient' ? 2 : 0) + (restricted ? 1 : 0);
}

function bestScope(honoured: HonouredScopes, resourceType: string, permission: Permission, params: URLSearchParams): ResourceScope | undefined {
  let best: ResourceScope | undefined;
  for (const scope of honoured.scopes) {
    if (!scope.permissions.has(permission)) continue;
    if (scope.resourceType !== '*' && scope.resourceType !== resourceType) continue;
    if (best === undefined || scopeCost(scope, params) < scopeCost(best, params)) best = scope;
  }
  return best;
}

/**
 * How `permissions` on `resourceType` (or '*': only wildcard scopes qualify) are granted to a
 * request carrying `params`, each permission by its least restrictive scope; undefined when any
 * permission is not granted at all.
 */
export function coverage(honoured: HonouredScopes, resourceType: string, permissions: readonly Permission[], params: URLSearchParams): Coverage | undefined {
  const result: Coverage = { granular: [] };
  for (const permission of permissions) {
    const scope = bestScope(honoured, resourceType, permission, params);
    if (scope === undefined) return undefined;
    if (scope.context === 'patient') result.confinedTo = honoured.patient;
    const query = scope.query;
    if (query && !queryContains(params, query) && !result.granular.some((known) => known.toString() === query.toString())) {
      result.granular.push(query);
    }
  }
  return result;
}
