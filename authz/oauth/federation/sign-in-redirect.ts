import * as oidc from 'openid-client';
import type { FederatedSignIns } from '../records/federated-sign-ins.js';
import { federationFailure, type FederationFailure } from './federation-failure.js';
import { providerCallFailure } from './provider-errors.js';
import type { RelyingParties } from './relying-parties.js';

/**
 * The first half of a federated sign-in: the person pressed a provider's button on the login
 * page. A fresh `nonce` and PKCE verifier (S256) are kept server-side with the interaction to
 * resume, under a random `state` bound to the browser; the browser is sent to the provider's
 * authorization endpoint with the state, the nonce and the challenge, and nothing else of ours.
 */
export interface FederatedSignInRequest {
  providerId: string;
  /** The authorize interaction (authz/interactions.ts) to resume after the callback. */
  interactionId: string;
  /** The browser-binding cookie value (browser-binding.ts browserBindingFor). */
  browserBinding: string;
  /** Ask the provider to authenticate the person again (the app sent prompt=login). */
  forceLogin?: boolean;
}

export type FederatedSignInRedirect = { ok: true; redirectTo: URL } | FederationFailure;

export async function startFederatedSignIn(
  relyingParties: RelyingParties,
  signIns: FederatedSignIns,
  request: FederatedSignInRequest,
): Promise<FederatedSignInRedirect> {
  const provider = relyingParties.get(request.providerId);
  if (!provider) return federationFailure('unknown-provider', `no identity provider ${JSON.stringify(request.providerId)} is configured`);
  const context = { providerId: provider.id, interactionId: request.interactionId };

  let configuration: oidc.Configuration;
  try {
    configuration = await relyingParties.configuration(provider.id);
  } catch (err) {
    return providerCallFailure(err, context, 'discovery');
  }

  const nonce = oidc.randomNonce();
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = await signIns.start({ providerId: provider.id, nonce, codeVerifier, interactionId: request.interactionId }, request.browserBinding);
  const redirectTo = oidc.buildAuthorizationUrl(configuration, {
    redirect_uri: relyingParties.redirectUri(provider.id),
    scope: provider.scope,
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    ...(request.forceLogin ? { prompt: 'login' } : {}),
  });
  return { ok: true, redirectTo };
}
