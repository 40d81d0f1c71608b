/**
 * RFC 6749 §5.2 / §4.1.2.1 error, raised anywhere in the OAuth endpoints and rendered by one
 * middleware as JSON with `Cache-Control: no-store`.
 */
type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'invalid_token'
  | 'unsupported_token_type'
  /** OIDC Core §3.1.2.6, answers to prompt=none. */
  | 'login_required'
  | 'consent_required'
  | 'interaction_required';

const DEFAULT_STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  // 401 only with a challenge, i.e. when the client tried the Authorization header: invalidClient()
  // in client-authentication.ts applies that rule; anything else defaults to the 400 §5.2 allows.
  invalid_client: 400,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  access_denied: 403,
  unsupported_response_type: 400,
  server_error: 500,
  temporarily_unavailable: 503,
  invalid_token: 401,
  unsupported_token_type: 400,
  login_required: 400,
  consent_required: 400,
  interaction_required: 400,
};

export class OAuthError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    options: { status?: number; headers?: Record<string, string> } = {},
  ) {
    super(`${error}: ${description}`);
    this.status = options.status ?? DEFAULT_STATUS[error];
    this.headers = options.headers ?? {};
  }

  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}
