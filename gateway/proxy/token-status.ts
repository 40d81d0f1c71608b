import type { RateLimitRuleConfig } from '../../config/types.js';
import type { AccessTokenClaims } from '../../authz/smart/token-claims.js';
import type { RateLimitResult, Store } from '../../authz/store.js';
import { invalidToken, storeUnavailable, throttled, type Refusal } from './refusals.js';

/** Whether a valid token may be used right now, and its client's rate-limit standing (for the RateLimit-* headers). */
interface TokenStanding {
  rate: RateLimitResult | undefined;
}

/**
 * Stage 4: not revoked, and its client within `rate_limits.per_client`: both in one store round
 * trip. A store that cannot answer refuses (503): a revoked token must never pass for want of a check.
 */
export async function tokenStanding(store: Store, claims: AccessTokenClaims, perClient: RateLimitRuleConfig | undefined): Promise<TokenStanding | Refusal> {
  let status;
  try {
    status = await store.checkToken(claims.jti, perClient ? { key: `client:${claims.client_id}`, rule: perClient } : undefined);
  } catch (err) {
    return storeUnavailable(err);
  }
  if (status.revoked) return invalidToken('The access token was revoked');
  if (status.rate && !status.rate.allowed) return throttled(status.rate);
  return { rate: status.rate };
}
