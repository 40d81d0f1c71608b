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
    const limit = maxBytes();
    const declared = Number(ctx.get('content-length') || 0);
    if (declared > limit) throw bodyTooLarge(ctx, limit);
    const parse = bodyParser({ enableTypes: ['form'], formLimit: `${limit}b` });
    try {
      await parse(ctx, async () => undefined);
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 413) throw bodyTooLarge(ctx, limit);
      throw new OAuthError('invalid_request', 'The request body could not be parsed as a form');
    }
    const raw = (ctx.request as unknown as { body?: Record<string, unknown> }).body ?? {};
    const form: Record<string, string> = {};
    for (const [key, value] of Object.entries(raw)) {
      if (typeof value !== 'string') {
        throw new OAuthError('invalid_request', `Parameter ${key} must appear once, as a plain value`);
      }
      form[key] = value;
    }
    ctx.state.form = form;
    return next();
  };
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
