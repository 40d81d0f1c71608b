/**
 * What the OAuth kinds send besides their grant and client authentication: the scope, and the
 * audience as both RFC 8707 `resource` and `audience` (the name Auth0, Okta and token-exchange
 * servers use). RFC 6749 §3.2 has servers ignore parameters they do not know, so one value
 * reaches either kind of server.
 */
import type { UpstreamTokenRequestParameters } from '../../../config/types.js';

export function tokenRequestParameters(parameters: UpstreamTokenRequestParameters): Record<string, string> {
  return {
    ...(parameters.scope !== undefined && parameters.scope !== '' ? { scope: parameters.scope } : {}),
    ...(parameters.audience !== undefined ? { resource: parameters.audience, audience: parameters.audience } : {}),
  };
}

/** The token endpoint's location, given or discovered. */
export type TokenEndpointLocator = () => Promise<string>;
