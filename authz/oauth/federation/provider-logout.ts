import * as oidc from 'openid-client';
import type { RelyingParties } from './relying-parties.js';

/**
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): where to send the browser after
 * the gateway ended its own session, when the provider has an `end_session_endpoint`. Undefined
 * when it has none, or cannot be reached: the gateway's own logout has happened either way.
 */
export interface ProviderLogoutRequest {
  providerId: string;
  /** The ID token the person signed in with (lets the provider skip its confirmation page). */
  idTokenHint?: string;
  /** Must be registered at the provider as a post_logout_redirect_uri. */
  postLogoutRedirectUri?: string;
  state?: string;
}

export async function providerLogoutUrl(relyingParties: RelyingParties, request: ProviderLogoutRequest): Promise<URL | undefined> {
  if (!relyingParties.get(request.providerId)) return undefined;
  let configuration: oidc.Configuration;
  try {
    configuration = await relyingParties.configuration(request.providerId);
  } catch {
    return undefined;
  }
  if (!configuration.serverMetadata().end_session_endpoint) return undefined;
  return oidc.buildEndSessionUrl(configuration, {
    ...(request.idTokenHint !== undefined ? { id_token_hint: request.idTokenHint } : {}),
    ...(request.postLogoutRedirectUri !== undefined ? { post_logout_redirect_uri: request.postLogoutRedirectUri } : {}),
    ...(request.state !== undefined ? { state: request.state } : {}),
  });
}
