import * as oidc from 'openid-client';
import type { FederatedSignIns } from '../records/federated-sign-ins.js';
import { mapClaims } from './claim-mapping.js';
import { personKey, type FederatedPerson } from './federated-person.js';
import { federationFailure, type FederationFailure } from './federation-failure.js';
import { providerCallFailure, safeCode } from './provider-errors.js';
import type { RelyingParties } from './relying-parties.js';

/**
 * The second half of a federated sign-in: the provider sent the browser back to
 * `{public_url}/oauth/callback/{id}`. In order, and stopping at the first failure:
 *
 * 1. the provider id names a configured provider;
 * 2. the state names a sign-in this gateway started, not used before (it is used up now, so a
 *    replay fails), started by this browser (binding cookie), and for this provider (mix-up);
 * 3. an error from the provider: `access_denied` (the person cancelled) goes back to the app,
 *    anything else ends on the error page;
 * 4. the code is exchanged (PKCE verifier, client authentication), and the ID token is verified:
 *    signature against the provider's JWKS, iss, aud (and azp), exp/iat, nonce, and the
 *    authorization response's `iss` parameter where the provider sends one (RFC 9207);
 * 5. the verified claims are mapped (claim-mapping.ts) to the person.
 */
export interface FederatedCallbackRequest {
  /** The `{id}` path segment of the callback. */
  providerId: string;
  /** The callback's query string. */
  query: URLSearchParams;
  /** browser-binding.ts readBrowserBinding of the callback request's cookies. */
  browserBinding: string | undefined;
}

export interface FederatedSignInSuccess {
  ok: true;
  person: FederatedPerson;
  /** The authorize interaction to resume. */
  interactionId: string;
  /** The verified ID token, for `id_token_hint` at the provider's logout: a credential, never to be logged. */
  idToken: string;
}

export async function completeFederatedSignIn(
  relyingParties: RelyingParties,
  signIns: FederatedSignIns,
  request: FederatedCallbackRequest,
  now: () => number = Date.now,
): Promise<FederatedSignInSuccess | FederationFailure> {
  const provider = relyingParties.get(request.providerId);
  if (!provider) return federationFailure('unknown-provider', 'the callback names no configured identity provider');

  const state = request.query.get('state');
  if (state === null) return federationFailure('unknown-state', 'the callback carries no state', { providerId: provider.id });
  const found = await signIns.take(state, request.browserBinding);
  if (found.kind === 'unknown') {
    return federationFailure('unknown-state', 'the sign-in is unknown, expired or already completed', { providerId: provider.id });
  }
  if (found.kind === 'other-browser') {
    return federationFailure('other-browser', 'the sign-in was started in another browser (or its cookie is gone)', { providerId: provider.id });
  }
  const { signIn } = found;
  if (signIn.providerId !== provider.id) {
    return federationFailure('provider-mismatch', 'the callback came back from another identity provider than the sign-in went to', { providerId: provider.id });
  }
  const context = { providerId: provider.id, interactionId: signIn.interactionId };

  // RFC 9207: when the provider names itself, it must be the one the sign-in went to.
  const iss = request.query.get('iss');
  if (iss !== null && iss !== provider.issuer) {
    return federationFailure('invalid-response', 'the callback names another issuer than the identity provider the sign-in went to', context);
  }
  const error = request.query.get('error');
  if (error !== null) {
    return error === 'access_denied'
      ? federationFailure('cancelled', 'the sign-in was cancelled at the identity provider', context)
      : federationFailure('provider-error', `the identity provider answered ${safeCode(error)}`, context);
  }

  let configuration: oidc.Configuration;
  try {
    configuration = await relyingParties.configuration(provider.id);
  } catch (err) {
    return providerCallFailure(err, context, 'discovery');
  }

  const callbackUrl = new URL(relyingParties.redirectUri(provider.id));
  callbackUrl.search = request.query.toString();
  let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
  try {
    tokens = await oidc.authorizationCodeGrant(configuration, callbackUrl, {
      pkceCodeVerifier: signIn.codeVerifier,
      expectedState: state,
      expectedNonce: signIn.nonce,
      idTokenExpected: true,
    });
  } catch (err) {
    return providerCallFailure(err, context, 'code exchange');
  }
  const claims = tokens.claims();
  if (!claims || typeof tokens.id_token !== 'string') {
    return federationFailure('invalid-response', 'the identity provider returned no ID token', context);
  }

  const mapped = mapClaims(provider, claims);
  if (!mapped.ok) return federationFailure('unmapped', mapped.description, context);

  const person: FederatedPerson = {
    key: personKey(claims.iss, claims.sub),
    providerId: provider.id,
    issuer: claims.iss,
    subject: claims.sub,
    fhirUser: mapped.fhirUser,
    ...(mapped.patient !== undefined ? { patient: mapped.patient } : {}),
    resourceScope: mapped.resourceScope,
    ...displayNameOf(claims),
    authTime: typeof claims.auth_time === 'number' ? claims.auth_time : Math.floor(now() / 1000),
  };
  return { ok: true, person, interactionId: signIn.interactionId, idToken: tokens.id_token };
}

function displayNameOf(claims: Readonly<Record<string, unknown>>): { displayName?: string } {
  for (const name of ['name', 'preferred_username', 'email']) {
    const value = claims[name];
    if (typeof value === 'string' && value.trim() !== '') return { displayName: value.trim().slice(0, 200) };
  }
  return {};
}
