import type { Context } from 'koa';
import { verifyAccessToken, type AccessTokenClaims } from '../../authz/tokens/access-token.js';
import { decideAccess, decideClassified, type AccessAllowed, type AccessDecision } from '../../authz/smart/access-decision.js';
import { classifyRequest, normalizePath, type ClassifiedRequest, type FhirRequestFacts } from '../../authz/smart/fhir-request.js';
import type { Runtime, RuntimeHolder } from '../../authz/runtime.js';
import type { TokenVerifier } from '../../authz/tokens/verified-token-cache.js';
import { REALM, rejectToken, sendDenial } from './access-denial.js';
import { extractBearer } from './bearer-token.js';
import { appendQuery, searchAsGet } from './forwarded-search.js';
import type { Forwarder } from '../upstream/forwarder.js';
import { runInspectedExchange } from './inspected-exchange.js';
import { serveCapabilityStatement } from './metadata.js';
import { bearerChallenge, sendOutcome } from './operation-outcome.js';
import { hasPagingHandle, PAGE_PARAM, pagingKey, PagingLinkSigner, SIGNATURE_PARAM, type PagingBinding } from './paging-links.js';
import { setRateLimitHeaders } from './rate-limit-headers.js';
import { readRequestBody } from './request-body.js';
import { splitTarget } from './request-target.js';
import { resourceCheckProblem } from '../../authz/smart/resource-check.js';
import { checkStoredResource } from './stored-resource-check.js';
import type { RateLimitRule } from '../../authz/store.js';
import { upstreamRequestHeaders } from '../upstream/request-headers.js';

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
  /** The status the client got; for an allowed request, the upstream's. */
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
  /** Called once per request with the final decision (audit log, metrics). */
  onDecision?: (ctx: Context, event: AccessEvent) => void;
  /** Signature verification, e.g. a cache in front of it (authz/verified-token-cache.ts); default: verify every time. */
  verifyToken?: TokenVerifier;
}

type Outcome = Pick<AccessEvent, 'decision' | 'status' | 'reason'>;

/** What is known about the request so far; grows as the pipeline learns more. */
interface RequestRecord {
  method: string;
  path: string;
  claims?: AccessTokenClaims;
  request?: ClassifiedRequest;
}

/**
 * Every request that is not an OAuth endpoint: authenticate the bearer token, check it is not
 * revoked, decide on the FHIR interaction, carry out every instruction of the decision, and only
 * then forward. Any doubt ends here with an OperationOutcome; nothing reaches the upstream unless
 * every check passed. `onDecision` hears about every request exactly once, with the final status.
 */
export function fhirAccess(deps: FhirAccessDeps) {
  return async (ctx: Context) => {
    const record: RequestRecord = { method: ctx.method, path: ctx.path };
    let outcome: Outcome;
    try {
      outcome = await handleFhirRequest(ctx, deps, record);
    } catch (err) {
      deps.onDecision?.(ctx, toEvent(record, { decision: 'error', status: 500, reason: 'unexpected gateway error' }));
      throw err;
    }
    deps.onDecision?.(ctx, toEvent(record, outcome));
  };
}

function toEvent(record: RequestRecord, outcome: Outcome): AccessEvent {
  const request = record.request;
  return {
    ...(record.claims ? { claims: record.claims } : {}),
    method: record.method,
    path: record.path,
    ...(request ? { interaction: request.interaction } : {}),
    ...(request?.resourceType !== undefined ? { resourceType: request.resourceType } : {}),
    ...(request?.id !== undefined ? { resourceId: request.id } : {}),
    ...outcome,
  };
}

function refuse(ctx: Context, status: 400 | 403 | 404 | 405 | 412 | 413 | 415, reason: string, extra: { neededScope?: string; deniedEntries?: { index: number; reason: string }[]; auditReason?: string } = {}): Outcome {
  if (status === 412 || status === 415) sendOutcome(ctx, status, status === 412 ? 'processing' : 'not-supported', reason);
  else sendDenial(ctx, { status, reason, ...extra });
  return { decision: 'deny', status, reason: extra.auditReason ?? reason };
}

async function handleFhirRequest(ctx: Context, deps: FhirAccessDeps, record: RequestRecord): Promise<Outcome> {
  const runtime = deps.runtime.get();
  const limit = runtime.config.proxy.max_buffered_body;
  const { rawPath, rawQuery } = splitTarget(ctx.req.url ?? '/');
  const normalized = normalizePath(rawPath);
  if (!normalized.ok) return refuse(ctx, 400, `The request path is not acceptable: ${normalized.reason}`);
  record.path = normalized.path;

  if ((ctx.method === 'GET' || ctx.method === 'HEAD') && normalized.path === '/metadata') {
    const served = await serveCapabilityStatement(ctx, deps.forwarder, rawQuery, runtime.publicUrl, limit);
    return { decision: served.status === 200 ? 'allow' : 'error', ...served };
  }

  const authenticated = await authenticate(ctx, deps, runtime);
  if ('decision' in authenticated) return authenticated;
  const claims = authenticated.claims;
  record.claims = claims;

  // Opaque paging handles are decided as the (signed) search they continue.
  const query = new URLSearchParams(rawQuery);
  const binding: PagingBinding = { sub: claims.sub, client_id: claims.client_id, ...(typeof claims.patient === 'string' ? { patient: claims.patient } : {}) };
  const signer = () => pagingKey(runtime.store).then((key) => new PagingLinkSigner(key, runtime.config.proxy.paging_link_ttl));
  let facts: FhirRequestFacts = { method: ctx.method, rawPath, query, headers: ctx.headers };
  let forwardQuery = rawQuery;
  let pagedSearch: string | undefined;
  if (hasPagingHandle(query) || query.has(PAGE_PARAM) || query.has(SIGNATURE_PARAM)) {
    let paging;
    try {
      paging = (await signer()).check(normalized.path, query, binding);
    } catch (err) {
      return storeUnavailable(ctx, deps, err);
    }
    if (paging.kind === 'invalid') return refuse(ctx, 403, paging.reason);
    if (paging.kind === 'signed') {
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return refuse(ctx, 405, 'a paging link is followed with GET');
      const original = splitTarget(paging.originalSearch);
      facts = { method: 'GET', rawPath: original.rawPath, query: new URLSearchParams(original.rawQuery), headers: ctx.headers };
      forwardQuery = paging.forwardQuery;
      pagedSearch = paging.originalSearch;
    }
  }

  const classified = classifyRequest(facts);
  if (!('error' in classified)) record.request = classified;
  let decision: AccessDecision = decideClassified(classified, facts, claims);
  if (!decision.allow) return refuse(ctx, decision.status, decision.reason, decision);

  // The body is read only when the decision needs it; everything else streams.
  let body: Buffer | undefined;
  // A PATCH on a checked resource is judged by its result, which needs the patch itself.
  const patchChecked = facts.method === 'PATCH' && decision.checkCurrentResource !== undefined;
  if (decision.needsBody || decision.checkRequestBody || patchChecked) {
    const read = await readRequestBody(ctx, limit);
    if (!read.ok) return refuse(ctx, read.status, `The request body cannot be accepted: ${read.reason}`);
    body = read.bytes;
    facts = { ...facts, body: read.parsed };
    if (decision.needsBody) {
      decision = decideAccess(facts, claims);
      if (!decision.allow) return refuse(ctx, decision.status, decision.reason, decision);
      if (decision.needsBody) return refuse(ctx, 400, 'The gateway could not decide on this request body');
    }
    if (patchChecked && !Array.isArray(facts.body)) return refuse(ctx, 403, 'Only a JSON Patch can be checked against this token’s restrictions');
    if (decision.checkRequestBody) {
      const problem = resourceCheckProblem(facts.body, decision.checkRequestBody);
      if (problem !== undefined) return refuse(ctx, 403, `The request body is outside what this token may write: ${problem}`);
    }
  }
  return forwardAllowed(ctx, deps, runtime, { decision, facts, path: normalized.path, forwardQuery, pagedSearch, body, binding, signer, request: record.request });
}

interface AllowedRequest {
  decision: AccessAllowed;
  facts: FhirRequestFacts;
  path: string;
  /** The query to send (for a signed paging link: the link's own query). */
  forwardQuery: string;
  /** Set when following a signed paging link: the search it continues. */
  pagedSearch?: string;
  body?: Buffer;
  binding: PagingBinding;
  signer: () => Promise<PagingLinkSigner>;
  request?: ClassifiedRequest;
}

/** Interactions whose answer is (or may be) a Bundle whose URLs must be rewritten. */
const BUNDLE_INTERACTIONS: ReadonlySet<string> = new Set([
  'search-type',
  'search-system',
  'search-compartment',
  'history-instance',
  'history-type',
  'history-system',
  'batch',
  'transaction',
  'operation-system',
  'operation-type',
  'operation-instance',
]);

/** Carries out the allowed decision's remaining instructions and forwards the request. */
async function forwardAllowed(ctx: Context, deps: FhirAccessDeps, runtime: Runtime, allowed: AllowedRequest): Promise<Outcome> {
  const { decision } = allowed;
  const limit = runtime.config.proxy.max_buffered_body;
  // A signed page is forwarded as issued: the handle names its search, the response is re-checked.
  const query = allowed.pagedSearch !== undefined ? allowed.forwardQuery : appendQuery(allowed.forwardQuery, decision.addQuery);
  const upstreamPath = allowed.path + (query ? `?${query}` : '');

  if (decision.checkCurrentResource) {
    const jsonPatch = allowed.facts.method === 'PATCH' && Array.isArray(allowed.facts.body) ? allowed.facts.body : undefined;
    const stored = await checkStoredResource(ctx, deps.forwarder, allowed.path, decision.checkCurrentResource, limit, jsonPatch).catch(() => undefined);
    if (stored === undefined) return upstreamUnavailable(ctx);
    if (!stored.ok) {
      if (stored.status === 502) {
        sendOutcome(ctx, 502, 'transient', stored.reason);
        return { decision: 'error', status: 502, reason: stored.detail };
      }
      return refuse(ctx, 403, `${stored.reason}`, { auditReason: stored.detail });
    }
    const pinned = pinVersion(ctx, allowed.facts.method, stored.etag);
    if (pinned !== undefined) return pinned;
  }

  const inspect = decision.checkResponse !== undefined || (allowed.request !== undefined && BUNDLE_INTERACTIONS.has(allowed.request.interaction));
  if (!inspect) {
    await deps.forwarder.forward(ctx, upstreamPath, allowed.body ? { body: allowed.body } : {});
    const upstreamError = ctx.state.upstreamError as string | undefined;
    return upstreamError
      ? { decision: 'error', status: ctx.res.statusCode, reason: `upstream error: ${upstreamError}` }
      : { decision: 'allow', status: ctx.res.statusCode, reason: decision.reason };
  }

  const headers = upstreamRequestHeaders(ctx);
  if (decision.checkResponse) {
    // A 304 would show nothing the gateway can check; ask for the full answer instead.
    delete headers['if-none-match'];
    delete headers['if-modified-since'];
  }
  const result = await runInspectedExchange(ctx, {
    forwarder: deps.forwarder,
    // HEAD is sent as GET so the answer can be checked; Koa sends no body for HEAD.
    request: { method: ctx.method === 'HEAD' ? 'GET' : ctx.method, path: upstreamPath, headers, ...(allowed.body ? { body: allowed.body } : {}) },
    ...(decision.checkResponse ? { checkResponse: decision.checkResponse } : {}),
    limit,
    upstreamBase: runtime.config.upstream.url.replace(/\/+$/, ''),
    publicUrl: runtime.publicUrl,
    originalSearch: allowed.pagedSearch ?? searchAsGet(allowed.facts.method, allowed.path, query, allowed.facts.body),
    binding: allowed.binding,
    signer: allowed.signer,
  });
  return result.decision === 'allow' ? { ...result, reason: decision.reason } : result;
}

/**
 * Makes the write apply only to the version that was checked (If-Match), so the stored resource
 * cannot change between the check and the write. A client If-Match for another version would
 * fail upstream anyway: answered here. DELETE has no If-Match in R4, so it is not pinned.
 */
function pinVersion(ctx: Context, method: string, etag: string | undefined): Outcome | undefined {
  if (etag === undefined || (method !== 'PUT' && method !== 'PATCH')) return undefined;
  const given = ctx.get('if-match');
  if (given && given !== etag) return refuse(ctx, 412, `If-Match ${given} does not match the current version ${etag}`);
  // Both forwarders copy the client's headers when they send: this is the one they will see.
  ctx.req.headers['if-match'] = etag;
  return undefined;
}

async function authenticate(ctx: Context, deps: FhirAccessDeps, runtime: Runtime): Promise<{ claims: AccessTokenClaims } | Outcome> {
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
    const status = bearer.kind === 'malformed' ? 400 : 401;
    sendOutcome(ctx, status, bearer.kind === 'malformed' ? 'invalid' : 'login', message, { headers: { 'WWW-Authenticate': challenge } });
    return { decision: 'deny', status, reason: message };
  }

  const verified = await (deps.verifyToken ?? verifyAccessToken)(runtime.keys, runtime.tokens, bearer.token);
  if (!verified.ok) {
    rejectToken(ctx, verified.description);
    return { decision: 'deny', status: 401, reason: verified.description };
  }
  const claims = verified.claims;
  ctx.state.claims = claims;

  let check;
  try {
    check = await runtime.store.checkAccess(claims.jti, deps.rateLimitFor?.(claims));
  } catch (err) {
    return storeUnavailable(ctx, deps, err);
  }
  if (check.revoked) {
    rejectToken(ctx, 'The access token was revoked');
    return { decision: 'deny', status: 401, reason: 'The access token was revoked' };
  }
  if (check.rate) {
    setRateLimitHeaders(ctx, check.rate);
    if (!check.rate.allowed) {
      const reason = 'Too many requests for this client; retry later';
      sendOutcome(ctx, 429, 'throttled', reason);
      return { decision: 'deny', status: 429, reason };
    }
  }
  return { claims };
}

function storeUnavailable(ctx: Context, deps: FhirAccessDeps, err: unknown): Outcome {
  deps.log.warn({ err: (err as Error).message }, 'store unavailable: refusing proxied request');
  const reason = 'The gateway cannot verify the token right now; retry shortly';
  sendOutcome(ctx, 503, 'transient', reason, { headers: { 'Retry-After': '1' } });
  return { decision: 'error', status: 503, reason };
}

function upstreamUnavailable(ctx: Context): Outcome {
  const reason = 'The FHIR server could not be reached';
  ctx.state.upstreamError = 'unreachable';
  sendOutcome(ctx, 502, 'transient', reason);
  return { decision: 'error', status: 502, reason };
}
