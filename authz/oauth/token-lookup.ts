import type { AccessTokenClaims } from '../smart/token-claims.js';
import { verifyAccessToken } from '../tokens/access-token.js';
import { RefreshTokens, type RefreshRecord } from './records/refresh-tokens.js';
import type { Runtime } from '../runtime.js';
import { tokenFamilies } from './lifetimes.js';

/** What a token presented to introspection or revocation turned out to be. */
export type IdentifiedToken =
  | { kind: 'access'; claims: AccessTokenClaims; active: boolean }
  | { kind: 'refresh'; record: RefreshRecord; active: boolean }
  /** Garbled, foreign, expired or unknown: nothing to say about it. */
  | { kind: 'unknown' };

/**
 * Access tokens are our signed JWTs; anything else may be one of our opaque refresh tokens.
 * `token_type_hint` is not needed: the two cannot be confused (RFC 7009 §2.1 lets us ignore it).
 */
export async function identifyToken(runtime: Runtime, token: string): Promise<IdentifiedToken> {
  if (token.split('.').length === 3) {
    const verified = await verifyAccessToken(runtime.keys, runtime.tokens, token);
    if (!verified.ok) return { kind: 'unknown' };
    const revoked = await runtime.store.isRevoked(verified.claims.jti);
    return { kind: 'access', claims: verified.claims, active: !revoked };
  }
  const found = await new RefreshTokens(runtime.store).peek(token);
  if (found.kind !== 'active') return { kind: 'unknown' };
  const expired = found.record.exp <= Math.floor(Date.now() / 1000);
  const revoked = await tokenFamilies(runtime).isRevoked(found.record.familyId);
  return { kind: 'refresh', record: found.record, active: !expired && !revoked };
}

export function ownerOf(token: IdentifiedToken): string | undefined {
  if (token.kind === 'access') return token.claims.client_id;
  if (token.kind === 'refresh') return token.record.clientId;
  return undefined;
}
