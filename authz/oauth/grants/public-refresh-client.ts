import type { ClientConfig } from '../../../config/types.js';
import { OAuthError } from '../oauth-error.js';
import { RefreshTokens } from '../records/refresh-tokens.js';
import type { Runtime } from '../../runtime.js';
import { tokenFamilies } from '../lifetimes.js';

/**
 * The client of a refresh request that carries no client authentication at all (not even a
 * client_id): SMART App Launch 2.x lets a public app refresh with `grant_type=refresh_token&
 * refresh_token=...` only ("authentication is not possible and thus not required"), which is
 * what the SMART JavaScript client (fhirclient) sends.
 *
 * - The token's own record names its client. A public client (`none`) is taken from there; the
 *   grant then runs as if that client had sent its client_id, including rotation and reuse
 *   detection (a reused token revokes its family).
 * - A confidential client must still authenticate: undefined, so the token endpoint asks for
 *   client authentication as usual (400 invalid_client).
 * - An unknown token has no client to name: invalid_grant, the answer a public client sending
 *   its client_id gets, so an expired refresh token tells the app to authorize again.
 */
export async function publicClientOfRefreshToken(runtime: Runtime, refreshToken: string | undefined): Promise<ClientConfig | undefined> {
  if (!refreshToken) return undefined;
  const found = await new RefreshTokens(runtime.store).peek(refreshToken);
  if (found.kind === 'unknown') throw new OAuthError('invalid_grant', 'The refresh token is invalid, expired or revoked');
  const clientId = found.kind === 'active' ? found.record.clientId : (await tokenFamilies(runtime).get(found.familyId))?.clientId;
  const client = clientId === undefined ? undefined : runtime.clients.get(clientId);
  return client?.token_endpoint_auth_method === 'none' ? client : undefined;
}
