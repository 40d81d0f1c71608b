import { rateLimitHeaders } from '../../authz/rate-limit-headers.js';
import type { AccessDenied } from '../../authz/smart/access-decision.js';
import { STARTING_MESSAGE, type RateLimitResult } from '../../authz/store.js';
import { UpstreamError } from '../upstream/forwarder.js';
import type { DecisionKind } from '../http/exchange.js';
import { bearerChallenge, type IssueType, type OutcomeIssue } from './operation-outcome.js';

/**
 * Why the gateway answers a FHIR request itself, with an OperationOutcome, instead of the
 * upstream's answer. Every pipeline stage returns one of these (or its own result); only
 * gateway/proxy/respond.ts writes them.
 */
export interface Refusal {
  readonly refused: true;
  readonly status: number;
  readonly issue: IssueType;
  /** What the client reads. */
  readonly diagnostics: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly extraIssues?: readonly OutcomeIssue[];
  /** deny: the request was not allowed; error: the gateway or the upstream failed. */
  readonly decision: Exclude<DecisionKind, 'allow'>;
  /** For the audit log, when it may say more than the client is told (names resources). */
  readonly auditReason?: string;
  /** For the request log: what went wrong upstream. */
  readonly upstreamError?: string;
  /** For the operational log (a warning): what failed inside the gateway. */
  readonly cause?: string;
  /**
   * The answer is the connection's last (a body refused unread, a malformed request): the
   * connection closes after reading and discarding what the client is still sending, within
   * bounds (authz/lingering-close.ts).
   */
  readonly closesConnection?: true;
}

export function isRefusal(value: unknown): value is Refusal {
  return typeof value === 'object' && value !== null && (value as { refused?: unknown }).refused === true;
}

/** A refusal of the request itself: the access decision's denials, and the proxy's own (412, 415). */
interface Denial extends Pick<AccessDenied, 'reason' | 'neededScope' | 'deniedEntries'> {
  status: AccessDenied['status'] | 412 | 415;
}

const ISSUE_FOR_STATUS: Readonly<Record<number, IssueType>> = {
  403: 'forbidden',
  404: 'not-found',
  405: 'not-supported',
  412: 'processing',
  413: 'too-costly',
  415: 'not-supported',
};

/**
 * The request is not acceptable or not allowed: the decision's status, and for 403 the RFC 6750
 * `insufficient_scope` challenge naming the scope that would have allowed it. A refused
 * batch/transaction lists every denied entry as its own issue.
 */
export function denied(denial: Denial, auditReason?: string): Refusal {
  const { status, reason, neededScope } = denial;
  const entries = denial.deniedEntries ?? [];
  return {
    refused: true,
    status,
    issue: ISSUE_FOR_STATUS[status] ?? 'invalid',
    diagnostics: reason,
    decision: 'deny',
    ...(status === 403 ? { headers: { 'WWW-Authenticate': bearerChallenge({ code: 'insufficient_scope', description: reason, ...(neededScope ? { scope: neededScope } : {}) }) } } : {}),
    ...(entries.length > 0
      ? { extraIssues: entries.map((e) => ({ severity: 'error' as const, code: 'forbidden' as const, diagnostics: e.reason, expression: [`Bundle.entry[${e.index}]`] })) }
      : {}),
    ...(auditReason !== undefined ? { auditReason } : {}),
  };
}

/** RFC 6750 §3.1: a token was presented and is not acceptable. */
export function invalidToken(description: string): Refusal {
  return {
    refused: true,
    status: 401,
    issue: 'login',
    diagnostics: description,
    decision: 'deny',
    headers: { 'WWW-Authenticate': bearerChallenge({ code: 'invalid_token', description }) },
  };
}

/** No usable Authorization header. RFC 6750 §3.1: without any token, the challenge carries no error code. */
export function missingToken(kind: 'missing' | 'other-scheme' | 'malformed'): Refusal {
  if (kind === 'malformed') {
    return {
      refused: true,
      status: 400,
      issue: 'invalid',
      diagnostics: 'Malformed Authorization header: expected "Bearer <token>"',
      decision: 'deny',
      headers: { 'WWW-Authenticate': bearerChallenge({ code: 'invalid_request', description: 'Malformed Authorization header' }) },
    };
  }
  return {
    refused: true,
    status: 401,
    issue: 'login',
    diagnostics: kind === 'other-scheme' ? 'A Bearer access token is required (Authorization: Bearer <token>)' : 'A Bearer access token is required',
    decision: 'deny',
    headers: { 'WWW-Authenticate': bearerChallenge() },
  };
}

/** Over `rate_limits.per_client`: 429 with the RateLimit-* headers and Retry-After. */
export function throttled(rate: RateLimitResult): Refusal {
  return {
    refused: true,
    status: 429,
    issue: 'throttled',
    diagnostics: 'Too many requests for this client; retry later',
    decision: 'deny',
    headers: rateLimitHeaders(rate),
  };
}

/** The store cannot answer: fail closed, and say when to retry. */
export function storeUnavailable(cause: unknown, diagnostics = 'The gateway cannot verify the token right now; retry shortly'): Refusal {
  return {
    refused: true,
    status: 503,
    issue: 'transient',
    diagnostics,
    decision: 'error',
    headers: { 'Retry-After': '1' },
    cause: `store unavailable: ${cause instanceof Error ? cause.message : String(cause)}`,
  };
}

/** Not ready yet: the store has not been reached since the gateway started. */
export function starting(): Refusal {
  return { refused: true, status: 503, issue: 'transient', diagnostics: STARTING_MESSAGE, decision: 'error', headers: { 'Retry-After': '1' } };
}

/**
 * The exchange with the upstream failed: 504 for a timeout, 502 otherwise, saying which failure
 * it was. A certificate problem and refused credentials are the operator's to fix: their
 * message goes to the log too (a warning); a token endpoint that fails is logged once by the
 * credentials themselves, not once per request.
 */
export function upstreamFailed(error: UpstreamError): Refusal {
  switch (error.kind) {
    case 'timeout':
      return upstreamFailure(504, 'timeout', 'The FHIR server did not answer in time', 'timeout');
    case 'unreachable':
      return upstreamFailure(502, 'transient', 'The FHIR server could not be reached', error.code);
    case 'tls':
      return { ...upstreamFailure(502, 'security', `The gateway could not connect to the FHIR server: ${error.message}`, `tls ${error.code}`), cause: error.message };
    case 'credentials_unavailable':
      return upstreamFailure(502, 'transient', `The gateway could not get its credentials for the FHIR server: ${error.message}`, `credentials unavailable (${error.code})`);
    case 'credentials_refused':
      return {
        ...upstreamFailure(502, 'security', "The FHIR server refused the gateway's upstream credentials", 'credentials refused'),
        cause: "the upstream answered 401 to the gateway's credentials (upstream.auth)",
      };
  }
}

/** Whatever an exchange with the upstream rejected with, as its refusal (UpstreamError, or anything else as unreachable). */
export function upstreamRefusal(err: unknown): Refusal {
  return upstreamFailed(err instanceof UpstreamError ? err : new UpstreamError('unreachable', 'error'));
}

function upstreamFailure(status: 502 | 504, issue: IssueType, diagnostics: string, upstreamError: string): Refusal {
  return { refused: true, status, issue, diagnostics, decision: 'error', auditReason: `upstream error: ${upstreamError}`, upstreamError };
}

/** The upstream answered, but with something the gateway cannot pass on (too large, not what was asked). */
export function badUpstreamAnswer(issue: IssueType, diagnostics: string, auditReason?: string): Refusal {
  return { refused: true, status: 502, issue, diagnostics, decision: 'error', ...(auditReason !== undefined ? { auditReason } : {}) };
}

/** The request breaks HTTP's own rules (RFC 9112, e.g. its Host): 400, and the connection is not reused. */
export function malformedRequest(diagnostics: string): Refusal {
  return { refused: true, status: 400, issue: 'invalid', diagnostics, decision: 'deny', closesConnection: true };
}

/** Anything unforeseen: never forwarded, never a stack trace. */
export function unexpectedError(): Refusal {
  return { refused: true, status: 500, issue: 'exception', diagnostics: 'Unexpected gateway error', decision: 'error', auditReason: 'unexpected gateway error' };
}
