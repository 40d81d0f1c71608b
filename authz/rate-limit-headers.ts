import type { RateLimitResult } from './store.js';

/**
 * RateLimit-* headers (IETF draft-ietf-httpapi-ratelimit-headers) for a limited response, and
 * Retry-After on a refusal. Shared by the OAuth endpoints' per-IP limits and the proxy's
 * per-client limit, so both say the same thing the same way.
 */
export function rateLimitHeaders(result: RateLimitResult): Record<string, string> {
  const headers: Record<string, string> = {
    'RateLimit-Limit': String(result.limit),
    'RateLimit-Remaining': String(Math.max(0, result.remaining)),
    'RateLimit-Reset': String(Math.max(0, Math.ceil(result.resetSeconds))),
  };
  if (!result.allowed) headers['Retry-After'] = String(retryAfterSeconds(result));
  return headers;
}

/** Whole seconds, at least 1: a client told to retry after 0 s would retry at once. */
export function retryAfterSeconds(result: RateLimitResult): number {
  return Math.max(1, Math.ceil(result.retryAfterSeconds));
}
