import type { Context } from 'koa';
import type { AccessDenied } from '../../authz/smart/access-decision.js';
import { bearerChallenge, sendOutcome, type IssueType } from './operation-outcome.js';

export const REALM = 'fhir-oauth-gateway';

const ISSUE_FOR_STATUS: Readonly<Record<number, IssueType>> = { 403: 'forbidden', 404: 'not-found', 413: 'too-costly', 415: 'not-supported', 405: 'not-supported' };

/**
 * Answers a refused request: an OperationOutcome with the decision's status, and for 403 the
 * RFC 6750 `insufficient_scope` challenge naming the scope that would have allowed it. A refused
 * batch/transaction lists every denied entry as its own issue.
 */
export function sendDenial(ctx: Context, decision: Pick<AccessDenied, 'status' | 'reason' | 'neededScope' | 'deniedEntries'>): void {
  const headers: Record<string, string> = {};
  if (decision.status === 403) {
    headers['WWW-Authenticate'] = bearerChallenge(REALM, {
      code: 'insufficient_scope',
      description: decision.reason,
      ...(decision.neededScope ? { scope: decision.neededScope } : {}),
    });
  }
  sendOutcome(ctx, decision.status, ISSUE_FOR_STATUS[decision.status] ?? 'invalid', decision.reason, {
    headers,
    extraIssues: (decision.deniedEntries ?? []).map((e) => ({
      severity: 'error' as const,
      code: 'forbidden' as const,
      diagnostics: e.reason,
      expression: [`Bundle.entry[${e.index}]`],
    })),
  });
}

export function rejectToken(ctx: Context, description: string): void {
  sendOutcome(ctx, 401, 'login', description, {
    headers: { 'WWW-Authenticate': bearerChallenge(REALM, { code: 'invalid_token', description }) },
  });
}
