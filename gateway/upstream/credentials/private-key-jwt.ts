/**
 * `upstream.auth.type: private_key_jwt`: the client_credentials grant with an RFC 7523 §2.2
 * client assertion, as SMART Backend Services asks: RS384 or ES384, `kid` in the header,
 * iss = sub = client_id, aud = the token endpoint URL, a fresh `jti`, and an `exp` a minute away
 * (the IG allows at most five). A new assertion for every token request, so a `jti` is never
 * reused.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { UpstreamSigningKey } from '../../../config/upstream-files.js';
import { readTokenResponse } from './token-response.js';
import type { TokenHttp } from './token-http.js';
import { tokenRequestParameters, type TokenEndpointLocator } from './token-request-parameters.js';
import { tokenCredentials, type TokenKindOptions } from './token-credentials.js';
import type { UpstreamCredentials } from './upstream-credentials.js';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const CLIENT_ASSERTION_LIFETIME_SECONDS = 60;

export interface PrivateKeyJwtSettings {
  client_id: string;
  scope?: string;
  audience?: string;
}

export async function clientAssertion(clientId: string, tokenEndpoint: string, signingKey: UpstreamSigningKey, nowSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: signingKey.alg, kid: signingKey.kid, typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenEndpoint)
    .setJti(randomUUID())
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + CLIENT_ASSERTION_LIFETIME_SECONDS)
    .sign(signingKey.key);
}

export function privateKeyJwt(
  settings: PrivateKeyJwtSettings,
  signingKey: UpstreamSigningKey,
  tokenEndpoint: TokenEndpointLocator,
  http: TokenHttp,
  options: TokenKindOptions,
): UpstreamCredentials {
  return tokenCredentials(
    'private_key_jwt',
    async () => {
      const endpoint = await tokenEndpoint();
      const answer = await http.postForm(endpoint, {
        grant_type: 'client_credentials',
        ...tokenRequestParameters(settings),
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: await clientAssertion(settings.client_id, endpoint, signingKey),
      });
      return readTokenResponse(answer, endpoint);
    },
    options,
  );
}
