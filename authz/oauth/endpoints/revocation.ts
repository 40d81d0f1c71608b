import type { Context } from 'koa';
import { clientOf } from '../steps/client-authentication.js';
import { formOf } from '../steps/form-body.js';
import { OAuthError } from '../oauth-error.js';
import type { RuntimeHolder } from '../../runtime.js';
import { tokenFamilies } from '../lifetimes.js';
import { identifyToken, ownerOf } from '../token-lookup.js';
import { setNoStore } from '../token-response.js';

interface RevocationDeps {
  runtime: RuntimeHolder;
}

/**
 * POST /oauth/revoke (RFC 7009). Public clients authenticate with their client_id. An access
 * token's jti enters the revocation set for its remaining lifetime (the proxy checks it on every
 * request); a refresh token takes its whole family with it. Unknown tokens, and tokens of
 * other clients, get the same 200 (§2.2) so the endpoint reveals nothing.
 */
export function revocationEndpoint(deps: RevocationDeps) {
  return async (ctx: Context) => {
    const runtime = deps.runtime.get();
    const form = formOf(ctx);
    const client = clientOf(ctx);
    if (!form.token) throw new OAuthError('invalid_request', 'token is required');

    const token = await identifyToken(runtime, form.token);
    if (ownerOf(token) === client.client_id) {
      if (token.kind === 'access') {
        // Until the proxy would refuse it anyway: exp plus the clock skew it tolerates.
        const remaining = token.claims.exp + runtime.tokens.clockSkewSeconds - Math.floor(Date.now() / 1000);
        if (remaining > 0) await runtime.store.revoke(token.claims.jti, remaining);
      } else if (token.kind === 'refresh') {
        await tokenFamilies(runtime).revoke(token.record.familyId);
      }
    }
    setNoStore(ctx);
    ctx.status = 200;
    ctx.body = '';
  };
}
