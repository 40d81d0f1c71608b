import type { Context } from 'koa';
import type { GrantType } from '../../../config/types.js';
import { clientOf } from '../steps/client-authentication.js';
import { formOf } from '../steps/form-body.js';
import type { GrantHandler } from '../grants/grant-handler.js';
import { OAuthError } from '../oauth-error.js';
import type { RuntimeHolder } from '../../runtime.js';
import { sendTokenResponse } from '../token-response.js';

/** Every grant type but implicit, which is answered at the authorization endpoint. */
type TokenEndpointGrantType = Exclude<GrantType, 'implicit'>;

interface TokenEndpointDeps {
  runtime: RuntimeHolder;
  /** One handler per grant type: leaving one out is a compile error. */
  grants: { readonly [T in TokenEndpointGrantType]: GrantHandler };
  onIssued?: (grantType: GrantType) => void;
}

/** POST /oauth/token (RFC 6749 §3.2), after the route authenticated the client: validate, then hand over to the grant. */
export function tokenEndpoint(deps: TokenEndpointDeps) {
  const byType: ReadonlyMap<string, GrantHandler> = new Map(Object.entries(deps.grants));
  return async (ctx: Context) => {
    const form = formOf(ctx);
    const grantType = form.grant_type;
    if (!grantType) throw new OAuthError('invalid_request', 'grant_type is required');
    const grant = byType.get(grantType);
    if (!grant) throw new OAuthError('unsupported_grant_type', `grant_type "${grantType}" is not supported`);

    const runtime = deps.runtime.get();
    const client = clientOf(ctx);
    if (!client.grant_types.includes(grant.grantType)) {
      throw new OAuthError('unauthorized_client', `This client may not use grant_type "${grantType}"`);
    }
    const body = await grant.handle({ client, form, runtime, ip: ctx.ip });
    deps.onIssued?.(grant.grantType);
    sendTokenResponse(ctx, body);
  };
}
