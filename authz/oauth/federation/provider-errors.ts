import * as oidc from 'openid-client';
import { federationFailure, type FederationFailure } from './federation-failure.js';

/**
 * Sorts what openid-client throws while talking to a provider into the failures the endpoints
 * act on. The description keeps openid-client's message and its cause's (they name the check
 * that failed, e.g. 'unexpected JWT "aud" (audience) claim value'), never a token or secret.
 */
export function providerCallFailure(err: unknown, context: { providerId: string; interactionId?: string }, during: string): FederationFailure {
  const detail = describe(err);
  if (isUnreachable(err)) return federationFailure('provider-unreachable', `${during}: the identity provider did not answer usably (${detail})`, context);
  if (err instanceof oidc.ResponseBodyError) {
    if (err.error === 'server_error' || err.error === 'temporarily_unavailable') {
      return federationFailure('provider-unreachable', `${during}: the identity provider reported ${err.error}`, context);
    }
    return federationFailure('code-rejected', `${during}: the identity provider refused the request (${safeCode(err.error)})`, context);
  }
  // A 401 with a challenge: the provider did not accept the gateway's client authentication.
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    return federationFailure('code-rejected', `${during}: the identity provider refused the gateway's client authentication (${safeCode(err.cause[0]?.parameters.error)})`, context);
  }
  if (err instanceof oidc.AuthorizationResponseError) {
    return federationFailure('provider-error', `${during}: the identity provider answered ${safeCode(err.error)}`, context);
  }
  return federationFailure('invalid-response', `${during}: ${detail}`, context);
}

/** openid-client's codes (oauth4webapi's constants, not re-exported) for timeouts and non-protocol answers. */
const UNREACHABLE_CODES = new Set(['OAUTH_TIMEOUT', 'OAUTH_ABORT', 'OAUTH_RESPONSE_IS_NOT_CONFORM', 'OAUTH_RESPONSE_IS_NOT_JSON']);

/** Network errors, timeouts, and answers that are not the protocol's (5xx pages, HTML, ...). */
function isUnreachable(err: unknown): boolean {
  // fetch() rejects with a TypeError without a code when the connection fails; openid-client's
  // own argument errors are TypeErrors with an ERR_* code.
  if (err instanceof TypeError && (err as { code?: unknown }).code === undefined) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && UNREACHABLE_CODES.has(code);
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return cause && cause !== err.message ? `${err.message}: ${cause}` : err.message;
}

/** An OAuth error code as RFC 6749 allows it (%x20-21 / %x23-5B / %x5D-7E), else a placeholder: it came from outside. */
export function safeCode(code: unknown): string {
  return typeof code === 'string' && /^[\x21\x23-\x5B\x5D-\x7E]{1,64}$/.test(code) ? code : '(an invalid error code)';
}
