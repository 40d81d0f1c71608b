/**
 * `upstream.auth.type: client_credentials`: RFC 6749 §4.4, the gateway authenticating with
 * client_secret_basic (§2.3.1: id and secret form-encoded, then Basic).
 */
import { readTokenResponse } from './token-response.js';
import type { TokenHttp } from './token-http.js';
import { tokenRequestParameters, type TokenEndpointLocator } from './token-request-parameters.js';
import { tokenCredentials, type TokenKindOptions } from './token-credentials.js';
import type { UpstreamCredentials } from './upstream-credentials.js';

export interface ClientCredentialsSettings {
  client_id: string;
  client_secret: string;
  scope?: string;
  audience?: string;
}

/** RFC 6749 §2.3.1 / Appendix B: application/x-www-form-urlencoded, before Basic's base64. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

export function clientSecretBasic(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`, 'utf8').toString('base64')}`;
}

export function clientCredentials(settings: ClientCredentialsSettings, tokenEndpoint: TokenEndpointLocator, http: TokenHttp, options: TokenKindOptions): UpstreamCredentials {
  const authorization = clientSecretBasic(settings.client_id, settings.client_secret);
  return tokenCredentials(
    'client_credentials',
    async () => {
      const endpoint = await tokenEndpoint();
      const answer = await http.postForm(endpoint, { grant_type: 'client_credentials', ...tokenRequestParameters(settings) }, { authorization });
      return readTokenResponse(answer, endpoint);
    },
    options,
  );
}
