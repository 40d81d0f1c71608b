import type { Context, Next } from 'koa';
import { CLIENT_AUTH_CHALLENGE } from '../clients/client-authentication.js';
import { OAuthError } from '../oauth-error.js';
import { setNoStore } from '../token-response.js';

/** Renders every error on the OAuth JSON endpoints as RFC 6749 §5.2 JSON; never leaks internals. */
export function jsonErrors(log: { error(obj: object, msg: string): void }) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      const oauth = err instanceof OAuthError ? err : toOAuthError(err);
      if (!(err instanceof OAuthError) && oauth.status >= 500) log.error({ err }, 'OAuth endpoint failed');
      setNoStore(ctx);
      for (const [k, v] of Object.entries(oauth.headers)) ctx.set(k, v);
      // RFC 9110 §15.5.2: no 401 without a challenge, whoever raised it.
      if (oauth.status === 401 && !ctx.response.get('WWW-Authenticate')) ctx.set('WWW-Authenticate', CLIENT_AUTH_CHALLENGE);
      ctx.status = oauth.status;
      ctx.type = 'application/json';
      ctx.body = oauth.toJSON();
    }
  };
}

/** Store outages become `temporarily_unavailable`, anything else unexpected `server_error`. */
function toOAuthError(err: unknown): OAuthError {
  if (isStoreUnavailable(err)) return new OAuthError('temporarily_unavailable', 'The gateway cannot reach its store; retry shortly');
  return new OAuthError('server_error', 'Unexpected error');
}

function isStoreUnavailable(err: unknown): boolean {
  return Boolean(err && typeof err === 'object' && (err as { storeUnavailable?: boolean }).storeUnavailable === true);
}
