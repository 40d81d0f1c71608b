import type { Runtime } from '../runtime.js';
import { AUTHORIZATION_CODE_TTL_SECONDS, REFRESH_TOKEN_TTL_SECONDS } from './settings.js';
import { TokenFamilies } from './records/token-families.js';

export function refreshTokenTtl(runtime: Runtime): number {
  return runtime.config.tokens.refresh_token_ttl ?? REFRESH_TOKEN_TTL_SECONDS;
}

export function authorizationCodeTtl(runtime: Runtime): number {
  return runtime.config.tokens.authorization_code_ttl ?? AUTHORIZATION_CODE_TTL_SECONDS;
}

/** Families live as long as the longest-lived token they can hold. */
export function tokenFamilies(runtime: Runtime): TokenFamilies {
  return new TokenFamilies(runtime.store, familyLifetime(runtime), runtime.tokens.clockSkewSeconds);
}

/** How long to remember anything that may have to revoke a family (e.g. a redeemed code). */
export function familyLifetime(runtime: Runtime): number {
  return Math.max(refreshTokenTtl(runtime), runtime.tokens.ttlSeconds);
}
