import type { RedirectTarget } from './authorize-request.js';
import type { OAuthError } from './oauth-error.js';

/**
 * The redirect back to the client: parameters in the query (code flow) or the fragment
 * (implicit), `state` echoed, and `iss` (RFC 9207) so the client can tell which server answered.
 */
export function redirectWith(target: RedirectTarget, issuer: string, params: Record<string, string | number | boolean | undefined>): string {
  const values = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) values.set(name, String(value));
  }
  if (target.state !== undefined) values.set('state', target.state);
  values.set('iss', issuer);

  const url = new URL(target.redirectUri);
  if (target.mode === 'fragment') {
    url.hash = values.toString();
  } else {
    // The registered URI may carry its own query (RFC 6749 §3.1.2): keep it, add ours.
    for (const [name, value] of values) url.searchParams.append(name, value);
  }
  return url.toString();
}

export function redirectWithError(target: RedirectTarget, issuer: string, error: OAuthError): string {
  return redirectWith(target, issuer, { error: error.error, error_description: error.description });
}
