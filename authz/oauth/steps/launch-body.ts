import type { Context, Next } from 'koa';
import { OAuthError } from '../oauth-error.js';
import { formValues, parsedBody } from './form-body.js';

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
    const raw = await parsedBody(ctx, maxBytes(), ['form', 'json'], isJson ? 'JSON' : 'a form');
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new OAuthError('invalid_request', 'The request body must be a JSON object');
    const body = raw as Record<string, unknown>;
    ctx.state.launchBody = isForm ? formValues(body) : body;
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
