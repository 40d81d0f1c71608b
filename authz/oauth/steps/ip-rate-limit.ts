import type { Context, Next } from 'koa';
import type { RateLimitRuleConfig } from '../../../config/types.js';
import { OAuthError } from '../oauth-error.js';
import { setRateLimitHeaders } from '../../../gateway/proxy/rate-limit-headers.js';
import type { Store } from '../../store.js';

/**
 * Per-client-IP limit on an OAuth endpoint (token endpoint, login form). Over the limit: 429
 * with Retry-After and an RFC 6749-style JSON error. A store outage is an error (the endpoint
 * then answers 503 temporarily_unavailable), never a silent pass.
 */
export function ipRateLimit(options: {
  name: string;
  rule: () => RateLimitRuleConfig | undefined;
  store: () => Store;
  onReject?: (name: string) => void;
  /** Answers a refused request itself (e.g. an HTML page for a browser form); default: OAuth JSON. */
  refuse?: (ctx: Context, retryAfterSeconds: number) => void;
}) {
  return async (ctx: Context, next: Next) => {
    const rule = options.rule();
    if (!rule) return next();
    const result = await options.store().rateLimit(`${options.name}:${ctx.ip}`, rule);
    setRateLimitHeaders(ctx, result);
    if (!result.allowed) {
      options.onReject?.(options.name);
      if (options.refuse) {
        options.refuse(ctx, Math.max(1, Math.ceil(result.retryAfterSeconds)));
        return;
      }
      throw new OAuthError('temporarily_unavailable', 'Too many requests from this address; retry later', {
        status: 429,
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(result.retryAfterSeconds))) },
      });
    }
    return next();
  };
}
