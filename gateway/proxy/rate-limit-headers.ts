import type { Context } from 'koa';
import type { RateLimitResult } from '../../authz/store.js';

/** RateLimit-* headers (IETF draft-ietf-httpapi-ratelimit-headers) on every limited response. */
export function setRateLimitHeaders(ctx: Context, result: RateLimitResult): void {
  ctx.set('RateLimit-Limit', String(result.limit));
  ctx.set('RateLimit-Remaining', String(Math.max(0, result.remaining)));
  ctx.set('RateLimit-Reset', String(Math.max(0, Math.ceil(result.resetSeconds))));
  if (!result.allowed) ctx.set('Retry-After', String(Math.max(1, Math.ceil(result.retryAfterSeconds))));
}
