import bodyParser from 'koa-bodyparser';
import type { Context, Next } from 'koa';
import { OAuthError } from '../oauth-error.js';
import { bodyTooLarge } from './form-body.js';

/**
 * The body of POST /oauth/launch: a form (application/x-www-form-urlencoded, every value a
 * string, none repeated) or a JSON object (typed values: `fhir_context` an array,
 * `need_patient_banner` a boolean), never larger than `maxBytes`. The handler reads it with
 * `launchBodyOf`; client authentication reads only `launchCredentialsOf`.
 */
export function launchBody(maxBytes: () => number) {
  return async (ctx: Context, next: Next) => {
    const isForm = ctx.is('application/x-www-form-urlencoded');
    const isJson = ctx.is('application/json');
    if (!isForm && !isJson) throw new OAuthError('invalid_request', 'The request body must be application/x-www-form-urlencoded or application/json');
    const limit = maxBytes();
    if (Number(ctx.get('content-length') || 0) > limit) throw bodyTooLarge(ctx, limit);
    const parse = bodyParser({ enableTypes: ['form', 'json'], formLimit: `${limit}b`, jsonLimit: `${limit}b`, strict: true });
    try {
      await parse(ctx, async () => undefined);
    } catch (err) {
      if ((err as { status?: number }).status === 413) throw bodyTooLarge(ctx, limit);
      throw new OAuthError('invalid_request', `The request body could not be parsed as ${isJson ? 'JSON' : 'a form'}`);
    }
    const raw: unknown = (ctx.request as unknown as { body?: unknown }).body ?? {};
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new OAuthError('invalid_request', 'The request body must be a JSON object');
    const body = raw as Record<string, unknown>;
    if (isForm) {
      for (const [key, value] of Object.entries(body)) {
        if (typeof value !== 'string') throw new OAuthError('invalid_request', `Parameter ${key} must appear once, as a plain value`);
      }
    }
    ctx.state.launchBody = body;
    return next();
  };
}

export function launchBodyOf(ctx: Context): Readonly<Record<string, unknown>> {
  return (ctx.state.launchBody as Record<string, unknown> | undefined) ?? {};
}

/**
 * The parameters that authenticate the EHR: a private_key_jwt assertion (which names the EHR by
 * its `iss`/`sub`). Not `client_id`, which names the app to launch, and so not client_secret_post
 * either: the endpoint refuses a `client_secret` in the body before authentication is tried.
 */
export function launchCredentialsOf(ctx: Context): Record<string, string> {
  const body = launchBodyOf(ctx);
  const credentials: Record<string, string> = {};
  for (const name of ['client_assertion', 'client_assertion_type'] as const) {
    const value = body[name];
    if (value !== undefined) {
      if (typeof value !== 'string') throw new OAuthError('invalid_request', `${name} must be a string`);
      credentials[name] = value;
    }
  }
  return credentials;
}
