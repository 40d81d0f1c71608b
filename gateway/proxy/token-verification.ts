import type { AccessTokenClaims } from '../../authz/smart/token-claims.js';
import type { Runtime } from '../../authz/runtime.js';
import type { TokenVerifier } from '../../authz/tokens/verified-token-cache.js';
import { invalidToken, type Refusal } from './refusals.js';

/** Stage 3: is the token one this gateway issued, unexpired, for this audience? (Signature checks are cached.) */
export async function verifiedClaims(verify: TokenVerifier, runtime: Runtime, token: string): Promise<AccessTokenClaims | Refusal> {
  const verified = await verify(runtime.keys, runtime.tokens, token);
  return verified.ok ? verified.claims : invalidToken(verified.description);
}
