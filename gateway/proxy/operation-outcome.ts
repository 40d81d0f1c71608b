/** FHIR R4 OperationOutcome issue types the gateway uses (http://hl7.org/fhir/issue-type). */
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

/** RFC 6750 §3: quoted-string values may not carry `"` or `\`. */
function quoted(value: string): string {
  return value.replace(/["\\]/g, "'");
}

/** The realm of every Bearer challenge the gateway sends. */
const REALM = 'fhir-oauth-gateway';

/** An RFC 6750 §3 `WWW-Authenticate: Bearer ...` challenge. */
export function bearerChallenge(error?: { code: 'invalid_token' | 'insufficient_scope' | 'invalid_request'; description: string; scope?: string }): string {
  const parts = [`realm="${REALM}"`];
  if (error) {
    parts.push(`error="${error.code}"`, `error_description="${quoted(error.description)}"`);
    if (error.scope) parts.push(`scope="${quoted(error.scope)}"`);
  }
  return `Bearer ${parts.join(', ')}`;
}
