import type { Context } from 'koa';
import { invalidClient } from '../clients/client-authentication.js';
import { clientOf } from '../steps/client-authentication.js';
import { formOf } from '../steps/form-body.js';
import { OAuthError } from '../oauth-error.js';
import type { RuntimeHolder } from '../../runtime.js';
import { identifyToken, ownerOf, type IdentifiedToken } from '../token-lookup.js';
import { setNoStore } from '../token-response.js';

interface IntrospectionDeps {
  runtime: RuntimeHolder;
}

/**
 * POST /oauth/introspect (RFC 7662), for authenticated confidential clients only. A token is
 * described only to the client it was issued to; for anyone else, and for expired, revoked,
 * garbled or foreign tokens, the answer is `{"active": false}` and nothing more (§2.2).
 */
export function introspectionEndpoint(deps: IntrospectionDeps) {
  return async (ctx: Context) => {
    const runtime = deps.runtime.get();
    const form = formOf(ctx);
    const client = clientOf(ctx);
    if (client.token_endpoint_auth_method === 'none') {
      // A public client cannot have used the Authorization header (that would have failed above).
      throw invalidClient('Introspection is only for confidential clients', false);
    }
    if (!form.token) throw new OAuthError('invalid_request', 'token is required');

    const token = await identifyToken(runtime, form.token);
    setNoStore(ctx);
    ctx.type = 'application/json';
    ctx.body = ownerOf(token) === client.client_id ? describe(token, runtime.tokens.issuer) : { active: false };
  };
}

function describe(token: IdentifiedToken, issuer: string): Record<string, unknown> {
  if (token.kind === 'access' && token.active) {
    const c = token.claims;
    return {
      active: true,
      scope: c.scope,
      client_id: c.client_id,
      sub: c.sub,
      exp: c.exp,
      iat: c.iat,
      iss: c.iss,
      aud: c.aud,
      jti: c.jti,
      token_type: 'Bearer',
      ...(c.patient !== undefined ? { patient: c.patient } : {}),
      ...(c.fhirUser !== undefined ? { fhirUser: c.fhirUser } : {}),
    };
  }
  if (token.kind === 'refresh' && token.active) {
    const r = token.record;
    return {
      active: true,
      scope: r.scope,
      client_id: r.clientId,
      sub: r.username,
      exp: r.exp,
      iss: issuer,
      token_type: 'refresh_token',
      ...(r.patient !== undefined ? { patient: r.patient } : {}),
      ...(r.fhirUser !== undefined ? { fhirUser: r.fhirUser } : {}),
    };
  }
  return { active: false };
}
