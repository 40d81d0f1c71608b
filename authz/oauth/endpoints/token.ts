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

/** One handler per grant type: leaving one out is a compile error. */
export type TokenEndpointGrants = { readonly [T in TokenEndpointGrantType]: GrantHandler };

interface TokenEndpointDeps {
  runtime: RuntimeHolder;
  grants: TokenEndpointGrants;
  onIssued?: (grantType: GrantType) => void;
}

/** The handler of a `grant_type` parameter, if the token endpoint has one. */
export function grantFor(grants: TokenEndpointGrants, grantType: string | undefined): GrantHandler | undefined {
  return grantType !== undefined && Object.hasOwn(grants, grantType) ? grants[grantType as TokenEndpointGrantType] : undefined;
}

/** POST /oauth/token (RFC 6749 §3.2), after the route authenticated the client: validate, then hand over to the grant. */
export function tokenEndpoint(deps: TokenEndpointDeps) {
  return async (ctx: Context) => {
    const form = formOf(ctx);
    const grantType = form.grant_type;
    if (!grantType) throw new OAuthError('invalid_request', 'grant_type is required');
    const grant = grantFor(deps.grants, grantType);
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
