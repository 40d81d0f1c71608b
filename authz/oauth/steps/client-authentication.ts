import type { Context, Next } from 'koa';
import type { ClientConfig } from '../../../config/types.js';
import type { RuntimeHolder } from '../../runtime.js';
import { authenticateClient, type AssertionVerifier } from '../clients/client-authentication.js';
import { formOf } from './form-body.js';

/**
 * Route step of every endpoint that authenticates clients (token, introspection, revocation):
 * one way to authenticate, so the rules (RFC 6749 §2.3, private_key_jwt, the challenge on a 401)
 * cannot drift apart between endpoints. The handler reads the client with `clientOf`.
 */
export function clientAuthentication(runtime: RuntimeHolder, verifyAssertion: AssertionVerifier) {
  return async (ctx: Context, next: Next) => {
    ctx.state.client = await authenticateClient(runtime.get().clients, ctx.get('authorization') || undefined, formOf(ctx), verifyAssertion);
    return next();
  };
}

/** The client the clientAuthentication step authenticated. */
export function clientOf(ctx: Context): ClientConfig {
  const client = ctx.state.client as ClientConfig | undefined;
  if (!client) throw new Error('clientOf: the route has no clientAuthentication step');
  return client;
}
