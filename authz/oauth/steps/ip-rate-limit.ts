import type { Context, Next } from 'koa';
import type { RateLimitRuleConfig } from '../../../config/types.js';
import { rateLimitHeaders, retryAfterSeconds } from '../../rate-limit-headers.js';
import type { RuntimeHolder } from '../../runtime.js';
import { OAuthError } from '../oauth-error.js';

/** The per-IP limits of the authorization server, by their config key under `rate_limits`. */
export type IpLimitName = 'per_ip_token' | 'per_ip_login';

interface IpRateLimitOptions {
  runtime: RuntimeHolder;
  limit: IpLimitName;
  onRefused?: (limit: IpLimitName) => void;
  /** Answers a refused request itself (e.g. an HTML page for a browser form); default: OAuth JSON. */
  refuse?: (ctx: Context, retryAfterSeconds: number) => void;
}

/**
 * Route step: the per-client-IP limit of one endpoint (token endpoint, login form). Over the
 * limit: 429 with Retry-After, as RFC 6749-style JSON or the route's own page. A store outage is
 * an error (the endpoint then answers 503 temporarily_unavailable), never a silent pass.
 */
export function ipRateLimit(options: IpRateLimitOptions) {
  return async (ctx: Context, next: Next) => {
    const runtime = options.runtime.get();
    const rule: RateLimitRuleConfig | undefined = runtime.config.rate_limits[options.limit];
    if (!rule) return next();
    const result = await runtime.store.rateLimit(`${bucketName(options.limit)}:${ctx.ip}`, rule);
    ctx.set(rateLimitHeaders(result));
    if (result.allowed) return next();
    options.onRefused?.(options.limit);
    if (options.refuse) return options.refuse(ctx, retryAfterSeconds(result));
    throw new OAuthError('temporarily_unavailable', 'Too many requests from this address; retry later', {
      status: 429,
      headers: { 'Retry-After': String(retryAfterSeconds(result)) },
    });
  };
}

/** Store key prefixes kept from before the limits were named by their config keys (live buckets survive an upgrade). */
function bucketName(limit: IpLimitName): string {
  return limit === 'per_ip_token' ? 'ip-token' : 'ip-login';
}
