import bodyParser from 'koa-bodyparser';
import type { Context, Next } from 'koa';
import { lingeringClose } from '../../lingering-close.js';
import { OAuthError } from '../oauth-error.js';

/**
 * OAuth endpoints take application/x-www-form-urlencoded bodies only (RFC 6749 §3.2) and never
 * more than `maxBytes`. Repeated parameters are refused (§3.1: "MUST NOT be included more than once").
 */
export function formBody(maxBytes: () => number) {
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'POST') return next();
    if (!ctx.is('application/x-www-form-urlencoded')) {
      throw new OAuthError('invalid_request', 'The request body must be application/x-www-form-urlencoded');
    }
    const raw = (await parsedBody(ctx, maxBytes(), ['form'], 'a form')) as Record<string, unknown>;
    ctx.state.form = formValues(raw);
    return next();
  };
}

/**
 * The request body parsed as one of `types` (koa-bodyparser), or `{}` when there is none: one
 * over `limit` bytes (declared or counted) is refused with 413, one that does not parse as `what`
 * with 400. The form endpoints and POST /oauth/launch read their bodies through it.
 */
export async function parsedBody(ctx: Context, limit: number, types: ('form' | 'json')[], what: string): Promise<unknown> {
  if (Number(ctx.get('content-length') || 0) > limit) throw bodyTooLarge(ctx, limit);
  const parse = bodyParser({ enableTypes: types, formLimit: `${limit}b`, jsonLimit: `${limit}b`, strict: true });
  try {
    await parse(ctx, async () => undefined);
  } catch (err) {
    if ((err as { status?: number }).status === 413) throw bodyTooLarge(ctx, limit);
    throw new OAuthError('invalid_request', `The request body could not be parsed as ${what}`);
  }
  return (ctx.request as unknown as { body?: unknown }).body ?? {};
}

/** A parsed form's values, each of which must be a single string (a repeated parameter parses as an array). */
export function formValues(raw: Readonly<Record<string, unknown>>): Record<string, string> {
  const form: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') {
      throw new OAuthError('invalid_request', `Parameter ${key} must appear once, as a plain value`);
    }
    form[key] = value;
  }
  return form;
}

/**
 * 413 for a body over the limit. The rest of the body stays unread, so the answer closes the
 * connection, after reading and discarding what the client is still sending (within bounds), so
 * that the client can read the answer rather than a reset.
 */
export function bodyTooLarge(ctx: Context, limit: number): OAuthError {
  lingeringClose(ctx.req, ctx.res);
  return new OAuthError('invalid_request', `The request body is larger than ${limit} bytes`, { status: 413 });
}

export function formOf(ctx: Context): Record<string, string> {
  return (ctx.state.form as Record<string, string> | undefined) ?? {};
}
