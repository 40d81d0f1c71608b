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
}
