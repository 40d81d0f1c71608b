import type { ClientConfig, GrantType } from '../../../config/types.js';
import type { Runtime } from '../../runtime.js';
import type { TokenResponseBody } from '../token-response.js';

interface GrantRequest {
  client: ClientConfig;
  form: Record<string, string>;
  runtime: Runtime;
  /** Client IP as trusted by the server (for per-IP counters). */
  ip: string;
}

/** One OAuth grant: turns an authenticated token request into a token response, or throws OAuthError. */
export interface GrantHandler {
  readonly grantType: GrantType;
  handle(request: GrantRequest): Promise<TokenResponseBody>;
  /**
   * For a request with no client authentication or client_id at all: the client this grant can
   * name from its own credentials (only ever a public client), or undefined to require client
   * authentication as usual. May throw an OAuthError. Grants without it always authenticate.
   */
  clientOfUnauthenticatedRequest?(runtime: Runtime, form: Record<string, string>): Promise<ClientConfig | undefined>;
}
