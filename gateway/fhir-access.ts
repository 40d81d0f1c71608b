import type { Context } from 'koa';
import { verifyAccessToken, type AccessTokenClaims } from '../authz/access-token.js';
import { decideAccess, type AccessDecision } from '../authz/access-decision.js';
import { normalizePath, type FhirRequestFacts } from '../authz/fhir-request.js';
import type { RuntimeHolder } from '../authz/runtime.js';
import { extractBearer } from './bearer-token.js';
import type { Forwarder } from './forwarder.js';
import { bearerChallenge, sendOutcome } from './operation-outcome.js';
import { splitTarget } from './request-target.js';
import { setRateLimitHeaders } from './rate-limit-response.js';
import type { RateLimitRule } from './store/store.js';

/** One access decision, for the audit log and metrics (never carries the token or a body). */
export interface AccessEvent {
  claims?: AccessTokenClaims;
  method: string;
  path: string;
  interaction?: string;
  resourceType?: string;
  resourceId?: string;
  decision: 'allow' | 'deny' | 'error';
  reason: string;
  status: number;
}

export interface RateLimitCheck {
  key: string;
  rule: RateLimitRule;
}

export interface FhirAccessDeps {
  runtime: RuntimeHolder;
  forwarder: Forwarder;
  log: { warn(obj: object, msg: string): void };
  /** Rate limit to apply to this token's client, checked in the same store round trip as revocation. */
  rateLimitFor?: (claims: AccessTokenClaims) => RateLimitCheck | undefined;
  /** Token verification; the server passes a caching verifier. Defaults to a full verification per request. */
  verifyToken?: typeof verifyAccessToken;
  /** Called once per request with the final decision (audit log, metrics). */
  onDecision?: (ctx: Context, event: AccessEvent) => void;
}

const REALM = 'fhir-oauth-gateway';

/**
 * Every request that is not an OAuth endpoint: authenticate the bearer token, check it is not
 * revoked, decide on the FHIR interaction, and only then forward. Any doubt ends here with an
 * OperationOutcome; nothing reaches the upstream unless every check passed.
 */
export function fhirAccess(deps: FhirAccessDeps) {
  return async (ctx: Context) => {
    const runtime = deps.runtime.get();
    const { rawPath, rawQuery } = splitTarget(ctx.req.url ?? '/');
    const normalized = normalizePath(rawPath);
    if (!normalized.ok) {
      sendOutcome(ctx, 400, 'invalid', `The request path is not acceptable: ${normalized.reason}`);
      return;
    }

    if (isPublic(ctx.method, normalized.path)) {
      await deps.forwarder.forward(ctx, withQuery(normalized.path, rawQuery));
      return;
    }

    const bearer = extractBearer(ctx.get('authorization') || undefined);
    if (bearer.kind !== 'token') {
      // RFC 6750 §3.1: without any token, the challenge carries no error code.
      const challenge =
        bearer.kind === 'malformed'
          ? bearerChallenge(REALM, { code: 'invalid_request', description: 'Malformed Authorization header' })
          : bearerChallenge(REALM);
      const message =
        bearer.kind === 'other-scheme'
          ? 'A Bearer access token is required (Authorization: Bearer <token>)'
          : bearer.kind === 'malformed'
            ? 'Malformed Authorization header: expected "Bearer <token>"'
            : 'A Bearer access token is required';
      sendOutcome(ctx, bearer.kind === 'malformed' ? 400 : 401, bearer.kind === 'malformed' ? 'invalid' : 'login', message, {
        headers: { 'WWW-Authenticate': challenge },
      });
      return;
    }

    const verified = await (deps.verifyToken ?? verifyAccessToken)(runtime.keys, runtime.tokens, bearer.token);
    if (!verified.ok) {
      rejectToken(ctx, verified.description);
      return;
    }
    const claims = verified.claims;
    ctx.state.claims = claims;

    let check;
    try {
      check = await runtime.store.checkAccess(claims.jti, deps.rateLimitFor?.(claims));
    } catch (err) {
      deps.log.warn({ err: (err as Error).message }, 'store unavailable: refusing proxied request');
      sendOutcome(ctx, 503, 'transient', 'The gateway cannot verify the token right now; retry shortly', { headers: { 'Retry-After': '1' } });
      return;
    }
    if (check.revoked) {
      rejectToken(ctx, 'The access token was revoked');
      return;
    }
    if (check.rate) {
      setRateLimitHeaders(ctx, check.rate);
      if (!check.rate.allowed) {
        sendOutcome(ctx, 429, 'throttled', `Rate limit for client ${claims.client_id} exceeded; retry after the Retry-After seconds`);
        return;
      }
    }

    const facts: FhirRequestFacts = {
      method: ctx.method,
      rawPath,
      query: new URLSearchParams(rawQuery),
      headers: ctx.headers,
    };
    const decision = decideAccess(facts, toDecisionClaims(claims));
    ctx.state.decision = decision;
    if (!decision.allow) {
      deny(ctx, decision);
      return;
    }
    await deps.forwarder.forward(ctx, withQuery(normalized.path, rawQuery));
  };
}

function isPublic(method: string, path: string): boolean {
  return (method === 'GET' || method === 'HEAD') && path === '/metadata';
}

function withQuery(path: string, rawQuery: string): string {
  return rawQuery ? `${path}?${rawQuery}` : path;
}

function rejectToken(ctx: Context, description: string): void {
  sendOutcome(ctx, 401, 'login', description, {
    headers: { 'WWW-Authenticate': bearerChallenge(REALM, { code: 'invalid_token', description }) },
  });
}

function deny(ctx: Context, decision: Extract<AccessDecision, { allow: false }>): void {
  const headers: Record<string, string> = {};
  if (decision.status === 403) {
    headers['WWW-Authenticate'] = bearerChallenge(REALM, {
      code: 'insufficient_scope',
      description: decision.reason,
      ...(decision.neededScope ? { scope: decision.neededScope } : {}),
    });
  }
  const code = decision.status === 403 ? 'forbidden' : decision.status === 404 ? 'not-found' : decision.status === 413 ? 'too-costly' : 'invalid';
  sendOutcome(ctx, decision.status, code, decision.reason, {
    headers,
    extraIssues: (decision.deniedEntries ?? []).map((e) => ({
      severity: 'error' as const,
      code: 'forbidden' as const,
      diagnostics: e.reason,
      expression: [`Bundle.entry[${e.index}]`],
    })),
  });
}

function toDecisionClaims(claims: AccessTokenClaims) {
  return {
    ...claims,
    sub: claims.sub,
    client_id: claims.client_id,
    scope: claims.scope,
    jti: claims.jti,
  };
}
