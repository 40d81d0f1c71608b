import { corsAnswer } from '../../authz/oauth/cors.js';
import { rateLimitHeaders } from '../../authz/rate-limit-headers.js';
import type { Runtime, RuntimeHolder } from '../../authz/runtime.js';
import { decideAccess, decideClassified, type AccessAllowed, type DecisionOptions } from '../../authz/smart/access-decision.js';
import { classifyRequest, type ClassifiedRequest, type FhirRequestFacts } from '../../authz/smart/fhir-request.js';
import { resourceCheckProblem } from '../../authz/smart/resource-check.js';
import type { AccessTokenClaims } from '../../authz/smart/token-claims.js';
import type { TokenVerifier } from '../../authz/tokens/verified-token-cache.js';
import type { Exchange } from '../http/exchange.js';
import { ownRequestHeaders, upstreamRequestHeaders } from '../upstream/request-headers.js';
import type { OnBehalfOf, UpstreamClient } from '../upstream/upstream-client.js';
import { bearerToken } from './bearer-token.js';
import { auditedSearch } from './audited-search.js';
import { appendQuery, searchAsGet } from './forwarded-search.js';
import { inspectedExchange } from './inspected-exchange.js';
import { capabilityStatement } from './metadata.js';
import { decisionInput, pagingSigner, type DecisionInput } from './paging.js';
import type { PagingBinding } from './paging-links.js';
import { denied, isRefusal, starting, unexpectedError, upstreamFailed, type Refusal } from './refusals.js';
import { readRequestBody, type RequestBody } from './request-body.js';
import { requestTarget } from './request-target.js';
import { writeRefusal, writeReply } from './respond.js';
import { checkStoredResource } from './stored-resource-check.js';
import { tokenStanding } from './token-status.js';
import { verifiedClaims } from './token-verification.js';

interface FhirProxyDeps {
  runtime: RuntimeHolder;
  /** Every request towards the upstream, with its credentials, TLS and identity (gateway/upstream/upstream-client.ts). */
  upstream: UpstreamClient;
  /** Signature verification with its cache (authz/tokens/verified-token-cache.ts). */
  verifyToken: TokenVerifier;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Hears every proxied request once, when its answer is complete (audit log, metrics). */
  onDecided: (exchange: Exchange, status: number) => void;
  /** False until the store has been reached and the signing keys loaded. */
  ready: () => boolean;
  /** Whether anything reads `exchange.search` (the FHIR AuditEvents): if not, it is not built. */
  recordsSearches: boolean;
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

/**
 * Every request that is not the authorization server's or the operators': a FHIR request,
 * decided and then forwarded. The stages run in this order, each one decision, each returning
 * its result or a Refusal (written in one place, gateway/proxy/respond.ts):
 *
 *   0 ready            the store was reached since the start              503
 *     CORS             a preflight is answered; other requests get the    204 / 403
 *                      CORS headers of authz/oauth/cors.ts
 *   1 request target   the path is one the gateway can decide on          400
 *   2 bearer token     an Authorization: Bearer header                    401 / 400
 *   3 token            signed by us, unexpired, for us (cached)           401
 *   4 token standing   not revoked; client within its rate limit          401 / 429 / 503
 *   5 decision input   a signed paging link stands for its search         403 / 405
 *   6 access decision  authz/smart/access-decision.ts (the only one)      403 / 404 / 405 / 413
 *     request body     read only when the decision needs it, re-decided   400 / 413 / 415
 *   7 stored resource  before a confined write: what is there now         403 / 412 / 502
 *   8 forward          streamed, or read whole and inspected (checked,    403 / 502 / 504
 *                      includes filtered, URLs rewritten) when the
 *                      decision (or a Bundle to rewrite) asks for it
 *
 * Nothing reaches the upstream unless every stage passed; any doubt ends with an
 * OperationOutcome. `GET /metadata` is public and answered after stage 1.
 */
export class FhirProxy {
  constructor(private readonly deps: FhirProxyDeps) {}

  /** Handles one request to the end; never rejects. */
  async handle(exchange: Exchange): Promise<void> {
    let status: number | typeof PREFLIGHT;
    try {
      status = await this.run(exchange, this.deps.runtime.get());
    } catch (err) {
      this.deps.log.error({ err }, 'FHIR request failed');
      status = this.refuse(exchange, unexpectedError());
    }
    // A CORS preflight is the browser asking, not a FHIR request: nothing to audit.
    if (status !== PREFLIGHT) this.deps.onDecided(exchange, status);
  }

  private async run(exchange: Exchange, runtime: Runtime): Promise<number | typeof PREFLIGHT> {
    const { req } = exchange;
    const method = req.method ?? 'GET';
    const limit = runtime.config.proxy.max_buffered_body;
    if (!this.deps.ready()) return this.refuse(exchange, starting());
    const cors = corsAnswer(
      { method, path: exchange.path, origin: req.headers.origin, requestMethod: header(req.headers['access-control-request-method']) },
      runtime.clients,
    );
    if (cors.kind === 'preflight') {
      writeReply(exchange.res, { status: cors.status, headers: cors.headers, body: EMPTY });
      return PREFLIGHT;
    }
    if (cors.kind === 'actual') setHeaders(exchange, cors.headers);
    // FHIR answers hold health data a browser must not keep: proxy.cache_control (no-store) unless
    // the upstream says otherwise (its Cache-Control replaces this one; refusals are no-store).
    exchange.res.setHeader('cache-control', runtime.config.proxy.cache_control);

    const target = requestTarget(req.url ?? '/');
    if (isRefusal(target)) return this.refuse(exchange, target);
    exchange.path = target.path;
    if ((method === 'GET' || method === 'HEAD') && target.path === '/metadata') {
      const answer = await capabilityStatement(this.deps.upstream, target.rawQuery, ownRequestHeaders(exchange), runtime.publicUrl, limit);
      if (isRefusal(answer)) return this.refuse(exchange, answer);
      exchange.decision = 'allow';
      exchange.reason = 'capability statement';
      writeReply(exchange.res, answer);
      return answer.status;
    }

    const token = bearerToken(req.headers.authorization);
    if (isRefusal(token)) return this.refuse(exchange, token);
    const verified = verifiedClaims(this.deps.verifyToken, runtime, token);
    const claims = verified instanceof Promise ? await verified : verified;
    if (isRefusal(claims)) return this.refuse(exchange, claims);
    exchange.claims = claims;
    const standing = await tokenStanding(runtime.store, claims, runtime.config.rate_limits.per_client);
    if (isRefusal(standing)) return this.refuse(exchange, standing);
    if (standing.rate) setHeaders(exchange, rateLimitHeaders(standing.rate));

    const binding = pagingBinding(claims);
    const pending = decisionInput(method, target, req.headers, { store: runtime.store, binding, ttlSeconds: runtime.config.proxy.paging_link_ttl });
    const input = pending instanceof Promise ? await pending : pending;
    if (isRefusal(input)) return this.refuse(exchange, input);

    const classified = classifyRequest(input.facts);
    if (!('error' in classified)) recordRequest(exchange, classified, this.deps.recordsSearches ? auditedSearch(classified.interaction, input) : undefined);
    let decision = decideClassified(classified, input.facts, claims, PROXY_CAPABILITIES);
    if (!decision.allow) return this.refuse(exchange, denied(decision));

    // The body is read only when the decision needs it; everything else streams.
    let facts = input.facts;
    let body: RequestBody | undefined;
    // A PATCH on a checked resource is judged by its result, which needs the patch itself.
    const patchChecked = facts.method === 'PATCH' && decision.checkCurrentResource !== undefined;
    if (decision.needsBody || decision.checkRequestBody || patchChecked) {
      const read = await readRequestBody(req, limit);
      if (isRefusal(read)) return this.refuse(exchange, read);
      body = read;
      facts = { ...facts, body: read.parsed };
      if (!('error' in classified) && this.deps.recordsSearches) exchange.search = auditedSearch(classified.interaction, input, read);
      if (decision.needsBody) {
        decision = decideAccess(facts, claims, PROXY_CAPABILITIES);
        if (!decision.allow) return this.refuse(exchange, denied(decision));
        if (decision.needsBody) return this.refuse(exchange, denied({ status: 400, reason: 'The gateway could not decide on this request body' }));
      }
      if (patchChecked && !Array.isArray(facts.body)) return this.refuse(exchange, denied({ status: 403, reason: 'Only a JSON Patch can be checked against this token’s restrictions' }));
      if (decision.checkRequestBody) {
        const problem = resourceCheckProblem(facts.body, decision.checkRequestBody);
        if (problem !== undefined) return this.refuse(exchange, denied({ status: 403, reason: `The request body is outside what this token may write: ${problem}` }));
      }
    }
    exchange.reason = decision.reason;
    return this.forward(exchange, runtime, { decision, facts, input, path: target.path, body, binding, classified, claims, accessToken: token });
  }

  /** Stages 7 and 8: carries out the allowed decision's remaining instructions, then forwards. */
  private async forward(exchange: Exchange, runtime: Runtime, allowed: Allowed): Promise<number> {
    const { decision, facts, input } = allowed;
    const limit = runtime.config.proxy.max_buffered_body;
    // A signed page is forwarded as issued: the handle names its search, the response is re-checked.
    const query = input.pagedSearch !== undefined ? input.forwardQuery : appendQuery(input.forwardQuery, decision.addQuery);
    const upstreamPath = allowed.path + (query ? `?${query}` : '');

    if (decision.checkCurrentResource) {
      const jsonPatch = facts.method === 'PATCH' && Array.isArray(facts.body) ? facts.body : undefined;
      const stored = await checkStoredResource(
        this.deps.upstream,
        { path: allowed.path, headers: ownRequestHeaders(exchange), onBehalfOf: allowed },
        decision.checkCurrentResource,
        limit,
        jsonPatch,
      );
      if (isRefusal(stored)) return this.refuse(exchange, stored);
      const pinned = pinVersion(exchange, facts.method, stored.etag);
      if (pinned) return this.refuse(exchange, pinned);
    }

    const { req, res } = exchange;
    const headers = upstreamRequestHeaders(exchange);
    const bundle = !('error' in allowed.classified) && BUNDLE_INTERACTIONS.has(allowed.classified.interaction);
    if (decision.checkResponse === undefined && decision.filterIncludes === undefined && !bundle) {
      const result = await this.deps.upstream.forward(
        req,
        res,
        { method: req.method ?? 'GET', path: upstreamPath, headers, ...(allowed.body ? { body: allowed.body.bytes } : {}) },
        allowed,
      );
      if (!result.ok) {
        if (result.responseStarted) {
          exchange.upstreamError = upstreamFailed(result.error).upstreamError;
          res.destroy();
          return this.decided(exchange, 'error', `upstream error: ${exchange.upstreamError}`, res.statusCode);
        }
        return this.refuse(exchange, upstreamFailed(result.error));
      }
      return this.decided(exchange, 'allow', decision.reason, result.status);
    }

    if (decision.checkResponse) {
      // A 304 would show nothing the gateway can check; ask for the full answer instead.
      delete headers['if-none-match'];
      delete headers['if-modified-since'];
    }
    const answer = await inspectedExchange({
      upstream: this.deps.upstream,
      onBehalfOf: allowed,
      // HEAD is sent as GET so the answer can be checked; node sends no body for HEAD.
      request: { method: req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET'), path: upstreamPath, headers, ...(allowed.body ? { body: allowed.body.bytes } : {}) },
      checkResponse: decision.checkResponse,
      filterIncludes: decision.filterIncludes,
      limit,
      upstreamBase: runtime.config.upstream.url.replace(/\/+$/, ''),
      publicUrl: runtime.publicUrl,
      originalSearch: input.pagedSearch ?? searchAsGet(facts.method, allowed.path, query, facts.body),
      binding: allowed.binding,
      signer: () => pagingSigner(runtime.store, runtime.config.proxy.paging_link_ttl),
    });
    if (isRefusal(answer)) return this.refuse(exchange, answer);
    writeReply(res, answer);
    return this.decided(exchange, 'allow', decision.reason, answer.status);
  }

  private refuse(exchange: Exchange, refusal: Refusal): number {
    if (refusal.cause !== undefined) this.deps.log.warn({ err: refusal.cause }, 'refusing proxied request');
    if (refusal.upstreamError !== undefined) exchange.upstreamError = refusal.upstreamError;
    writeRefusal(exchange.res, refusal);
    return this.decided(exchange, refusal.decision, refusal.auditReason ?? refusal.diagnostics, refusal.status);
  }

  private decided(exchange: Exchange, decision: Exchange['decision'], reason: string, status: number): number {
    exchange.decision = decision;
    exchange.reason = reason;
    return status;
  }
}

const PREFLIGHT = Symbol('CORS preflight');
/** What this proxy carries out beyond the instructions every caller honours (inspectedExchange filters includes). */
const PROXY_CAPABILITIES: DecisionOptions = { filterIncludes: true };
const EMPTY = Buffer.alloc(0);

function header(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** An allowed request, and the verified token it is made for (its identity goes upstream: OnBehalfOf). */
interface Allowed extends OnBehalfOf {
  decision: AccessAllowed;
  facts: FhirRequestFacts;
  input: DecisionInput;
  path: string;
  body: RequestBody | undefined;
  binding: PagingBinding;
  classified: ReturnType<typeof classifyRequest>;
}

function pagingBinding(claims: AccessTokenClaims): PagingBinding {
  return { sub: claims.sub, client_id: claims.client_id, ...(typeof claims.patient === 'string' ? { patient: claims.patient } : {}) };
}

function recordRequest(exchange: Exchange, request: ClassifiedRequest, search: string | undefined): void {
  exchange.interaction = request.interaction;
  exchange.resourceType = request.resourceType;
  exchange.resourceId = request.id;
  exchange.search = search;
}

function setHeaders(exchange: Exchange, headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) exchange.res.setHeader(name, value);
}

/**
 * Makes the write apply only to the version that was checked (If-Match), so the stored resource
 * cannot change between the check and the write. A client If-Match for another version would
 * fail upstream anyway: answered here. DELETE has no If-Match in R4, so it is not pinned.
 */
function pinVersion(exchange: Exchange, method: string, etag: string | undefined): Refusal | undefined {
  if (etag === undefined || (method !== 'PUT' && method !== 'PATCH')) return undefined;
  const given = exchange.req.headers['if-match'];
  if (given && given !== etag) return denied({ status: 412, reason: `If-Match ${given} does not match the current version ${etag}` });
  // The forwarded headers are built from the client's: this is the one the upstream will see.
  exchange.req.headers['if-match'] = etag;
  return undefined;
}
