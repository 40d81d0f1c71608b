import { formatScope, isScopeSubset, parseScope, parseScopes, PERMISSION_ORDER, ScopeSyntaxError, type ParsedScopes, type ResourceScope } from '../smart/scopes.js';
import { OAuthError } from './oauth-error.js';
import type { SignedInUser } from './users/users.js';

/**
 * The scope a client gets: what it asked for, if every requested scope is well formed and
 * covered by what it may ever get; its registered scope when it asked for none (RFC 6749 §3.3).
 * Used by client_credentials; the user flows go through `clientScopeForUserFlow` and
 * `capScopeForUser`.
 */
export function clientCredentialsScope(requested: string | undefined, allowed: string): string {
  if (requested === undefined) return allowed;
  const tokens = normalizedTokens(requested);
  assertSingleContext(parseOrRefuse(tokens.join(' ')));
  assertCoveredByClient(tokens, allowed);
  return tokens.join(' ');
}

/**
 * Checks a user-flow request (authorization code, implicit, password) against the client
 * before anyone signs in: well formed, one context only, no system/ scopes (SMART reserves
 * them for backend services), nothing the client may not have. Returns the normalized scope.
 */
export function clientScopeForUserFlow(requested: string | undefined, clientScope: string): string {
  if (requested === undefined) throw new OAuthError('invalid_scope', 'The scope parameter is required');
  const tokens = normalizedTokens(requested);
  const parsed = parseOrRefuse(tokens.join(' '));
  assertSingleContext(parsed);
  if (parsed.resourceScopes.some((s) => s.context === 'system')) {
    throw new OAuthError('invalid_scope', 'system/ scopes are only granted with client_credentials');
  }
  assertCoveredByClient(tokens, clientScope);
  return tokens.join(' ');
}

/**
 * Narrows a client-approved scope to what this user can grant: each resource scope keeps only
 * the permissions the user's own scope covers (patient/ ones only with a patient in context),
 * and `launch/patient` / `fhirUser` need the context they ask for. The result is never wider
 * than the input. Fails when resource scopes were asked for and none is left.
 *
 * The patient in context is the user's own unless `patientInContext` says whether there is one
 * (an EHR launch's patient, or one the user is about to pick): only its presence matters here.
 */
export function capScopeForUser(scope: string, user: SignedInUser, patientInContext: boolean = user.patient !== undefined): string {
  const kept: string[] = [];
  let askedForResources = false;
  let grantsResources = false;
  for (const token of scope.split(' ')) {
    const parsed = parseScope(token);
    if ('special' in parsed) {
      if (parsed.special === 'launch/patient' && !patientInContext) continue;
      if (parsed.special === 'fhirUser' && user.fhirUser === undefined) continue;
      kept.push(token);
      continue;
    }
    askedForResources = true;
    if (parsed.context === 'patient' && !patientInContext) continue;
    const narrowed = narrowResourceScope(parsed, user.scope);
    if (narrowed !== undefined) {
      kept.push(narrowed);
      grantsResources = true;
    }
  }
  if (askedForResources && !grantsResources) {
    throw new OAuthError('invalid_scope', 'This user cannot grant any of the requested resource scopes');
  }
  return [...new Set(kept)].join(' ');
}

/** The requested scope as is when the user covers it, else a v2 scope with only the covered permissions. */
function narrowResourceScope(scope: ResourceScope, userScope: string): string | undefined {
  if (isScopeSubset(scope.raw, userScope)) return scope.raw;
  const queryIndex = scope.raw.indexOf('?');
  const query = queryIndex < 0 ? '' : scope.raw.slice(queryIndex);
  const covered = PERMISSION_ORDER.filter(
    (p) => scope.permissions.has(p) && isScopeSubset(formatScope(scope.context, scope.resourceType, [p]) + query, userScope),
  );
  return covered.length === 0 ? undefined : formatScope(scope.context, scope.resourceType, covered) + query;
}

/** A refresh may ask for less than the grant, never more (RFC 6749 §6). */
export function narrowRefreshScope(requested: string | undefined, granted: string): string {
  if (requested === undefined) return granted;
  const tokens = normalizedTokens(requested);
  parseOrRefuse(tokens.join(' '));
  for (const token of tokens) {
    if (!isScopeSubset(token, granted)) {
      throw new OAuthError('invalid_scope', `Scope "${token}" was not part of the original grant`);
    }
  }
  return tokens.join(' ');
}

export function hasScope(scope: string, wanted: string): boolean {
  return scope.split(' ').includes(wanted);
}

function normalizedTokens(requested: string): string[] {
  const tokens = requested.split(' ').filter((s) => s.length > 0);
  if (tokens.length === 0) throw new OAuthError('invalid_scope', 'The scope parameter is empty');
  return [...new Set(tokens)];
}

function parseOrRefuse(scope: string): ParsedScopes {
  try {
    return parseScopes(scope);
  } catch (err) {
    if (err instanceof ScopeSyntaxError) throw new OAuthError('invalid_scope', `Malformed scope "${err.scope}"`);
    throw err;
  }
}

/** One token is for one kind of access: a patient app, a user app or a backend, never a mix. */
function assertSingleContext(parsed: ParsedScopes): void {
  const contexts = new Set(parsed.resourceScopes.map((s) => s.context));
  if (contexts.size > 1) {
    throw new OAuthError('invalid_scope', `A request may not mix ${[...contexts].map((c) => `${c}/`).join(', ')} scopes`);
  }
}

function assertCoveredByClient(tokens: string[], allowed: string): void {
  for (const scope of tokens) {
    if (!isScopeSubset(scope, allowed)) {
      throw new OAuthError('invalid_scope', `Scope "${scope}" is not allowed for this client`);
    }
  }
}
