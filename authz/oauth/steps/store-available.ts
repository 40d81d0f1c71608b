import type { Context, Next } from 'koa';
import type { RuntimeHolder } from '../../runtime.js';
import { OAuthError } from '../oauth-error.js';

/**
 * Route step of the token endpoint: while the store is unreachable, refuse at once with 503
 * rather than issue a token that could be neither revoked nor used (the proxy refuses every
 * token it cannot check against the revocation list).
 */
export function storeAvailable(runtime: RuntimeHolder) {
  return async (_ctx: Context, next: Next) => {
    if (runtime.get().store.availability === 'down') {
      throw new OAuthError('temporarily_unavailable', 'The gateway cannot reach its store; retry shortly', { headers: { 'Retry-After': '1' } });
    }
    return next();
  };
}
