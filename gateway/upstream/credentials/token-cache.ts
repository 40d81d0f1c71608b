/**
 * The upstream token of one gateway instance: fetched once, shared by every request, renewed
 * ahead of its expiry, dropped when the upstream refuses it.
 *
 * - Renewal starts once the token is within its margin of expiry: 10 % of its lifetime, at most
 *   60 s, so a 5-minute token is renewed about 30 s early and a 1-hour token 60 s early, and a
 *   10 s token is still cached for about 8 s. Inside the margin the current token is still handed out while
 *   the new one is fetched, so no request waits for it; only when there is no valid token at all
 *   do callers wait.
 * - One fetch at a time: every caller that needs a token while one is being fetched shares that
 *   fetch (and its failure).
 * - After a failed fetch, callers without a valid token get that failure for `failureHoldMs`
 *   without another fetch, so an unreachable token endpoint sees one attempt per interval, not
 *   one per proxied request.
 */
import type { FetchedToken } from './token-response.js';
import { UpstreamCredentialsError, type CredentialsStatus } from './upstream-credentials.js';

export const MAX_REFRESH_MARGIN_SECONDS = 60;

/** Seconds before expiry at which a token of `lifetimeSeconds` is renewed: 10 %, at most 60 s. */
export function refreshMarginSeconds(lifetimeSeconds: number): number {
  return Math.min(lifetimeSeconds / 10, MAX_REFRESH_MARGIN_SECONDS);
}

/**
 * How long a token with `expires_in` may be used, counted from when the answer arrived. Servers
 * compute expires_in from whole-second clocks (exp - floor(now)), so up to a second of it may
 * already be gone when it is issued; that second is not counted.
 */
export function usableLifetimeSeconds(expiresIn: number): number {
  return Math.max(0, expiresIn - 1);
}

export interface CachedToken {
  /** The headers for the upstream request; the same object for as long as the token is cached. */
  headers: Readonly<Record<string, string>>;
  /** ms on the cache's clock. */
  expiresAt: number;
  refreshAt: number;
}

export interface TokenCacheOptions {
  fetch: () => Promise<FetchedToken>;
  /** ms; a monotonic clock by default. Tests move it. */
  now?: () => number;
  failureHoldMs?: number;
}

export class TokenCache {
  private current: CachedToken | undefined;
  private inFlight: Promise<CachedToken> | undefined;
  private lastFailure: { error: UpstreamCredentialsError; at: number } | undefined;
  private readonly fetchToken: () => Promise<FetchedToken>;
  private readonly now: () => number;
  private readonly failureHoldMs: number;

  constructor(options: TokenCacheOptions) {
    this.fetchToken = options.fetch;
    this.now = options.now ?? (() => performance.now());
    this.failureHoldMs = options.failureHoldMs ?? 1_000;
  }

  async headers(): Promise<Readonly<Record<string, string>>> {
    const now = this.now();
    const current = this.current;
    if (current !== undefined && now < current.expiresAt) {
      if (now >= current.refreshAt && this.inFlight === undefined && !this.holding(now)) {
        // Renewal in the background; its failure is recorded (status) and the current token
        // goes on serving until it expires.
        this.refresh().catch(() => undefined);
      }
      return current.headers;
    }
    if (this.inFlight === undefined && this.lastFailure !== undefined && this.holding(now)) throw this.lastFailure.error;
    return (await this.refresh()).headers;
  }

  /** Within failureHoldMs of a failed fetch: no new attempt yet. */
  private holding(now: number): boolean {
    return this.lastFailure !== undefined && now - this.lastFailure.at < this.failureHoldMs;
  }

  /** Drops the token that was refused (any token when `rejected` is absent). */
  drop(rejected?: Readonly<Record<string, string>>): void {
    if (this.current === undefined) return;
    if (rejected === undefined || rejected['authorization'] === this.current.headers['authorization']) this.current = undefined;
  }

  status(): CredentialsStatus {
    const current = this.current;
    if (current !== undefined && this.now() < current.expiresAt) return { ok: true };
    if (this.lastFailure !== undefined) return { ok: false, reason: this.lastFailure.error.message };
    return { ok: true };
  }

  private refresh(): Promise<CachedToken> {
    if (this.inFlight !== undefined) return this.inFlight;
    // Started on a later microtask, so that inFlight is set before anything can settle.
    const fetching = Promise.resolve()
      .then(() => this.fetchToken())
      .then(
        (token) => {
          const receivedAt = this.now();
          const lifetime = usableLifetimeSeconds(token.expiresIn);
          const cached: CachedToken = {
            headers: Object.freeze({ authorization: `Bearer ${token.accessToken}` }),
            expiresAt: receivedAt + lifetime * 1000,
            refreshAt: receivedAt + (lifetime - refreshMarginSeconds(lifetime)) * 1000,
          };
          this.current = cached;
          this.lastFailure = undefined;
          return cached;
        },
        (err: unknown) => {
          const error =
            err instanceof UpstreamCredentialsError
              ? err
              : new UpstreamCredentialsError('invalid_response', `getting an upstream token failed: ${err instanceof Error ? err.name : 'unknown error'}`);
          this.lastFailure = { error, at: this.now() };
          throw error;
        },
      )
      .finally(() => {
        this.inFlight = undefined;
      });
    this.inFlight = fetching;
    return fetching;
  }
}
