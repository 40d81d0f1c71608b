import type { Context, Next } from 'koa';
import { OAuthError } from '../oauth-error.js';
import { renderErrorPage } from './error-page.js';
import { securityHeaders } from './layout.js';

/**
 * Sends a rendered page with the headers every page needs (CSP, no framing, no caching).
 * `formTargets`: where the page's forms may end up after redirects (the app's redirect_uri, identity providers).
 */
export function sendPage(ctx: Context, status: number, body: string, ...formTargets: string[]): void {
  ctx.status = status;
  ctx.set(securityHeaders({ formTargets }));
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = body;
}

export function sendErrorPage(ctx: Context, status: number, title: string, message: string): void {
  sendPage(ctx, status, renderErrorPage({ title, message }));
}

/** 303 after a form POST (the browser must GET the client's page), 302 otherwise. */
export function sendRedirect(ctx: Context, location: string): void {
  ctx.redirect(location);
  if (ctx.method === 'POST') ctx.status = 303;
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Referrer-Policy', 'no-referrer');
}

/**
 * The browser-facing endpoints answer with pages, never JSON: any error below (a malformed form,
 * a store outage) becomes an error page that says only what the user can act on.
 */
export function htmlErrors(log?: { error(obj: object, msg: string): void }) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof OAuthError && err.status < 500) {
        sendErrorPage(ctx, err.status, 'Invalid request', err.description);
        return;
      }
      log?.error({ err }, 'authorization page failed');
      sendErrorPage(ctx, 503, 'Try again shortly', 'The server could not complete this step. Go back to the app and try again.');
    }
  };
}
