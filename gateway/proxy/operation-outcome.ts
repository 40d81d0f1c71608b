import type { Context } from 'koa';

export type IssueType =
  | 'invalid'
  | 'security'
  | 'login'
  | 'forbidden'
  | 'not-found'
  | 'not-supported'
  | 'too-costly'
  | 'throttled'
  | 'exception'
  | 'timeout'
  | 'transient'
  | 'processing';

export interface OutcomeIssue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: IssueType;
  diagnostics: string;
  expression?: string[];
}

export function operationOutcome(issues: OutcomeIssue[]) {
  return { resourceType: 'OperationOutcome', issue: issues };
}

/** Ends the request with a FHIR OperationOutcome; nothing is forwarded after this. */
export function sendOutcome(
  ctx: Context,
  status: number,
  code: IssueType,
  diagnostics: string,
  options: { headers?: Record<string, string>; extraIssues?: OutcomeIssue[] } = {},
): void {
  for (const [k, v] of Object.entries(options.headers ?? {})) ctx.set(k, v);
  ctx.status = status;
  ctx.type = 'application/fhir+json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = operationOutcome([{ severity: 'error', code, diagnostics }, ...(options.extraIssues ?? [])]);
}

/** RFC 6750 §3: quoted-string values may not carry `"` or `\`. */
function quoted(value: string): string {
  return value.replace(/["\\]/g, "'");
}

export function bearerChallenge(realm: string, error?: { code: 'invalid_token' | 'insufficient_scope' | 'invalid_request'; description: string; scope?: string }): string {
  const parts = [`realm="${quoted(realm)}"`];
  if (error) {
    parts.push(`error="${error.code}"`, `error_description="${quoted(error.description)}"`);
    if (error.scope) parts.push(`scope="${quoted(error.scope)}"`);
  }
  return `Bearer ${parts.join(', ')}`;
}
