/**
 * `upstream.auth.type: google_service_account`: RFC 7523 §2.1, the JWT-bearer grant the way
 * Google's OAuth server takes it: an RS256 assertion signed with the key file's private key,
 * iss = client_email, aud = token_uri, `scope`, one hour at most, `kid` = private_key_id.
 */
import { SignJWT } from 'jose';
import type { GoogleServiceAccountKey } from '../../../config/upstream-files.js';
import { readTokenResponse } from './token-response.js';
import type { TokenHttp } from './token-http.js';
import { tokenCredentials, type TokenKindOptions } from './token-credentials.js';
import type { UpstreamCredentials } from './upstream-credentials.js';

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const GOOGLE_DEFAULT_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** Google accepts assertions valid for at most an hour. */
const ASSERTION_LIFETIME_SECONDS = 3600;

export async function serviceAccountAssertion(account: GoogleServiceAccountKey, scope: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  return new SignJWT({ scope })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(account.privateKeyId !== undefined ? { kid: account.privateKeyId } : {}) })
    .setIssuer(account.clientEmail)
    .setAudience(account.tokenUri)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + ASSERTION_LIFETIME_SECONDS)
    .sign(account.privateKey);
}

export function googleServiceAccount(account: GoogleServiceAccountKey, scope: string | undefined, http: TokenHttp, options: TokenKindOptions): UpstreamCredentials {
  const requested = scope !== undefined && scope !== '' ? scope : GOOGLE_DEFAULT_SCOPE;
  return tokenCredentials(
    'google_service_account',
    async () => {
      const answer = await http.postForm(account.tokenUri, { grant_type: JWT_BEARER_GRANT, assertion: await serviceAccountAssertion(account, requested) });
      return readTokenResponse(answer, account.tokenUri);
    },
    options,
  );
}
