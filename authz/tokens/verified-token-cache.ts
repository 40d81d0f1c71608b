import type { AccessTokenClaims } from '../smart/token-claims.js';
import { verifyAccessToken, type AccessTokenSettings, type VerifyResult } from './access-token.js';
import type { KeyRing } from './signing-keys.js';

interface TokenVerifierOptions {
  /** Most tokens remembered at once; the least recently used is dropped first. */
  maxEntries: number;
  /** Longest a verification is trusted, even if the token lives longer. */
  maxAgeMs: number;
  now?: () => number;
}

interface Entry {
  claims: AccessTokenClaims;
  /** Earlier of the token's exp and cachedAt + maxAge. */
  validUntilMs: number;
  /** The keys it was verified with: a key rotation or reload invalidates the entry. */
  keys: KeyRing;
  settings: AccessTokenSettings;
}

/**
 * Verifies each token's signature once. ES256 verification dominates the proxy's CPU cost, and
 * apps reuse one token for many calls. Only successes are cached, each until the earlier of
 * its `exp` and a short max age; revocation is NOT cached (the proxy checks it on every
 * request). Bounded, so a flood of distinct tokens costs memory only up to `maxEntries`.
 */
export function createTokenVerifier(options: TokenVerifierOptions) {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  return async function verify(keys: KeyRing, settings: AccessTokenSettings, token: string): Promise<VerifyResult> {
    const cached = entries.get(token);
    if (cached) {
      if (cached.keys === keys && cached.settings === settings && now() < cached.validUntilMs) {
        // Refresh recency: Map iteration order is insertion order, so re-insert at the end.
        entries.delete(token);
        entries.set(token, cached);
        return { ok: true, claims: cached.claims };
      }
      entries.delete(token);
    }
    const result = await verifyAccessToken(keys, settings, token);
    if (result.ok) {
      const expMs = result.claims.exp * 1000 + settings.clockSkewSeconds * 1000;
      entries.set(token, { claims: result.claims, validUntilMs: Math.min(expMs, now() + options.maxAgeMs), keys, settings });
      if (entries.size > options.maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    }
    return result;
  };
}

export type TokenVerifier = ReturnType<typeof createTokenVerifier>;
