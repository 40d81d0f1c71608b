/**
 * Every way a federated sign-in can fail, as a value the endpoints turn into a response. Nothing
 * here is thrown: the callback endpoint must always answer, and must know without guessing
 * whether the app hears `access_denied` or the person sees an error page.
 */
export type FederationFailureKind =
  /** No identity_providers[] entry has this id (button or callback path). */
  | 'unknown-provider'
  /** The callback's state is missing, was never issued, expired, or was used before (a replay). */
  | 'unknown-state'
  /** The state was issued to another browser, or the binding cookie is gone (login CSRF). */
  | 'other-browser'
  /** The callback arrived on another provider's path than the sign-in went to (mix-up). */
  | 'provider-mismatch'
  /** The person cancelled at the provider (error=access_denied). */
  | 'cancelled'
  /** The provider answered the authorization request with another error. */
  | 'provider-error'
  /** The provider could not be reached, timed out, or answered with something unusable. */
  | 'provider-unreachable'
  /** The provider's token endpoint refused the code (invalid_grant and the like). */
  | 'code-rejected'
  /** The callback or the ID token failed validation: signature, iss, aud, exp, nonce, iss parameter. */
  | 'invalid-response'
  /** The verified claims do not give what the gateway needs (fhir_user template claim missing, bad patient value). */
  | 'unmapped';

/**
 * - `access-denied`: the sign-in was genuine and the person is known not to be let in (they
 *   cancelled, or their claims do not map): the app gets `access_denied` at its redirect_uri.
 * - `error-page`: nothing about the callback can be trusted, or the provider failed: the person
 *   sees an error page and nobody is signed in.
 */
export type FederationFailureOutcome = 'access-denied' | 'error-page';

export interface FederationFailure {
  ok: false;
  kind: FederationFailureKind;
  outcome: FederationFailureOutcome;
  /** For the page and the log: never a token, secret, claim value or text the provider's redirect carried. */
  description: string;
  providerId?: string;
  /** The authorize interaction the sign-in belonged to, once the state proved it (to answer the app). */
  interactionId?: string;
}

const OUTCOMES: Readonly<Record<FederationFailureKind, FederationFailureOutcome>> = {
  'unknown-provider': 'error-page',
  'unknown-state': 'error-page',
  'other-browser': 'error-page',
  'provider-mismatch': 'error-page',
  cancelled: 'access-denied',
  'provider-error': 'error-page',
  'provider-unreachable': 'error-page',
  'code-rejected': 'error-page',
  'invalid-response': 'error-page',
  unmapped: 'access-denied',
};

export function federationFailure(
  kind: FederationFailureKind,
  description: string,
  context: { providerId?: string; interactionId?: string } = {},
): FederationFailure {
  return { ok: false, kind, outcome: OUTCOMES[kind], description, ...context };
}
