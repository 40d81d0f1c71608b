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
  /** When it was last (re)inserted, counted in insertions: how recently it was used, roughly. */
  insertedAt: number;
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
  let insertions = 0;
  const insert = (token: string, entry: Entry) => {
    entry.insertedAt = ++insertions;
    entries.set(token, entry);
  };

  /** The claims of a token verified before and still trusted, without a promise: the proxy's fast path. */
  function cached(keys: KeyRing, settings: AccessTokenSettings, token: string): AccessTokenClaims | undefined {
    const entry = entries.get(token);
    if (entry === undefined) return undefined;
    if (entry.keys !== keys || entry.settings !== settings || now() >= entry.validUntilMs) {
      entries.delete(token);
      return undefined;
    }
    // Least recently used goes first (Map iteration is insertion order), so a used entry moves to
    // the end -- once it has drifted into the older half: hot tokens are not moved on every request.
    if (insertions - entry.insertedAt >= options.maxEntries / 2) {
      entries.delete(token);
      insert(token, entry);
    }
    return entry.claims;
  }

  async function verify(keys: KeyRing, settings: AccessTokenSettings, token: string): Promise<VerifyResult> {
    const hit = cached(keys, settings, token);
    if (hit !== undefined) return { ok: true, claims: hit };
    const result = await verifyAccessToken(keys, settings, token);
    if (result.ok) {
      const expMs = result.claims.exp * 1000 + settings.clockSkewSeconds * 1000;
      insert(token, { claims: result.claims, insertedAt: 0, validUntilMs: Math.min(expMs, now() + options.maxAgeMs), keys, settings });
      if (entries.size > options.maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    }
    return result;
  }

  return Object.assign(verify, { cached });
}

export type TokenVerifier = ReturnType<typeof createTokenVerifier>;
