import type { Context, Next } from 'koa';
import type { ClientConfig } from '../../../config/types.js';
import type { RuntimeHolder } from '../../runtime.js';
import { authenticateClient, presentsClientCredentials, type AssertionVerifier } from '../clients/client-authentication.js';
import { formOf } from './form-body.js';

export interface ClientAuthenticationOptions {
  /**
   * When the request presents no client credentials at all (not even a client_id), whether the
   * request itself names a public client: the token endpoint asks the grant (a public app's
   * refresh, SMART App Launch 2.x). Undefined: authenticate as usual (and fail).
   */
  clientOfUnauthenticatedRequest?: (ctx: Context, form: Record<string, string>) => Promise<ClientConfig | undefined>;
  /**
   * The body parameters that carry client authentication (client_id, client_secret,
   * client_assertion...). Default: the whole form. An endpoint whose body uses `client_id` for
   * something else (POST /oauth/launch) hands over only the parameters that authenticate.
   */
  credentialsOf?: (ctx: Context) => Record<string, string>;
}

/**
 * Route step of every endpoint that authenticates clients (token, introspection, revocation):
 * one way to authenticate, so the rules (RFC 6749 §2.3, private_key_jwt, the challenge on a 401)
 * cannot drift apart between endpoints. The handler reads the client with `clientOf`.
 */
export function clientAuthentication(runtime: RuntimeHolder, verifyAssertion: AssertionVerifier, options: ClientAuthenticationOptions = {}) {
  return async (ctx: Context, next: Next) => {
    const authorization = ctx.get('authorization') || undefined;
    const form = options.credentialsOf ? options.credentialsOf(ctx) : formOf(ctx);
    const named = presentsClientCredentials(authorization, form) ? undefined : await options.clientOfUnauthenticatedRequest?.(ctx, form);
    ctx.state.client = named ?? (await authenticateClient(runtime.get().clients, authorization, form, verifyAssertion));
    return next();
  };
}

/** The client the clientAuthentication step authenticated. */
export function clientOf(ctx: Context): ClientConfig {
  const client = ctx.state.client as ClientConfig | undefined;
  if (!client) throw new Error('clientOf: the route has no clientAuthentication step');
  return client;
}
