import type { Context } from 'koa';
import type { GrantType } from '../config/types.js';
import { authenticateClient, presentsClientCredentials, type AssertionVerifier } from './client-authentication.js';
import { formOf } from './form-body.js';
import type { GrantHandler } from './grants/grant-handler.js';
import { OAuthError } from './oauth-error.js';
import type { RuntimeHolder } from './runtime.js';
import { sendTokenResponse } from './token-response.js';

export interface TokenEndpointDeps {
  runtime: RuntimeHolder;
  grants: readonly GrantHandler[];
  verifyAssertion?: AssertionVerifier;
  onIssued?: (grantType: GrantType) => void;
}

/** POST /oauth/token (RFC 6749 §3.2): validate, authenticate the client, then hand over to the grant. */
export function tokenEndpoint(deps: TokenEndpointDeps) {
  const byType = new Map(deps.grants.map((g) => [g.grantType as string, g]));
  return async (ctx: Context) => {
    const form = formOf(ctx);
    const grantType = form.grant_type;
    if (!grantType) throw new OAuthError('invalid_request', 'grant_type is required');
    const grant = byType.get(grantType);
    if (!grant) throw new OAuthError('unsupported_grant_type', `grant_type "${grantType}" is not supported`);

    const runtime = deps.runtime.get();
    const authorization = ctx.get('authorization') || undefined;
    // Nothing presented at all: the grant may know its (public) client from its own credentials.
    const named = presentsClientCredentials(authorization, form) ? undefined : await grant.clientOfUnauthenticatedRequest?.(runtime, form);
    const client = named ?? (await authenticateClient(runtime.clients, authorization, form, deps.verifyAssertion));
    if (!client.grant_types.includes(grant.grantType)) {
      throw new OAuthError('unauthorized_client', `This client may not use grant_type "${grantType}"`);
    }
    const body = await grant.handle({ client, form, runtime, ip: ctx.ip });
    deps.onIssued?.(grant.grantType);
    sendTokenResponse(ctx, body);
  };
}
