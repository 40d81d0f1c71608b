import type { AccessTokenClaims } from '../../authz/smart/token-claims.js';
import type { Runtime } from '../../authz/runtime.js';
import type { TokenVerifier } from '../../authz/tokens/verified-token-cache.js';
import { invalidToken, type Refusal } from './refusals.js';

/**
 * Stage 3: is the token one this gateway issued, unexpired, for this audience? Signature checks
 * are cached per token: a token seen before is answered without a promise.
 */
export function verifiedClaims(verify: TokenVerifier, runtime: Runtime, token: string): AccessTokenClaims | Promise<AccessTokenClaims | Refusal> {
  return verify.cached(runtime.keys, runtime.tokens, token) ?? verify(runtime.keys, runtime.tokens, token).then((verified) => (verified.ok ? verified.claims : invalidToken(verified.description)));
}
