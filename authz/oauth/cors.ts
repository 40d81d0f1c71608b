import type { Context, Next } from 'koa';
import type { ClientRegistry } from './clients/client-registry.js';
import { OAUTH_PATHS } from './paths.js';
import type { RuntimeHolder } from '../runtime.js';

/**
 * CORS for browser apps (Fetch standard): the token, introspection, revocation, discovery and
 * JWKS endpoints and the FHIR API answer cross-origin requests from the origins of registered
 * redirect URIs, and from no one else. An unknown origin gets no CORS headers at all, and its
 * preflight a bare 403. The login and consent pages are navigations, never fetched, so they
 * are left out.
 *
 * No Access-Control-Allow-Credentials: apps send bearer tokens, not cookies.
 */
const PREFLIGHT_MAX_AGE_SECONDS = 600;
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
const ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'accept',
  'prefer',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-none-exist',
  'x-request-id',
].join(', ');
/** Response headers a FHIR app needs to read (versioning, created resource, auth challenges). */
const EXPOSED_HEADERS = ['location', 'content-location', 'etag', 'last-modified', 'www-authenticate', 'x-request-id', 'retry-after'].join(', ');

const originsByRegistry = new WeakMap<ClientRegistry, ReadonlySet<string>>();

/** Origins of every client's http(s) redirect URIs; recomputed only when the config is reloaded. */
export function allowedOrigins(clients: ClientRegistry): ReadonlySet<string> {
  let origins = originsByRegistry.get(clients);
  if (!origins) {
    const found = new Set<string>();
    for (const client of clients.all()) {
      for (const uri of client.redirect_uris) {
        if (!URL.canParse(uri)) continue;
        const { protocol, origin } = new URL(uri);
        if (protocol === 'https:' || protocol === 'http:') found.add(origin);
      }
    }
    origins = found;
    originsByRegistry.set(clients, origins);
  }
  return origins;
}

function isInteractivePath(path: string): boolean {
  return path === OAUTH_PATHS.authorize || path.startsWith(`${OAUTH_PATHS.authorize}/`) || path.startsWith('/oauth/assets/');
}

export function cors(deps: { runtime: RuntimeHolder }) {
  return async (ctx: Context, next: Next) => {
    const origin = ctx.get('origin');
    if (!origin || isInteractivePath(ctx.path)) return next();
    // Answers differ by Origin, so shared caches must key on it.
    ctx.vary('Origin');
    const allowed = allowedOrigins(deps.runtime.get().clients).has(origin);
    const isPreflight = ctx.method === 'OPTIONS' && ctx.get('access-control-request-method') !== '';

    if (isPreflight) {
      ctx.set('Cache-Control', 'no-store');
      if (!allowed) {
        ctx.status = 403;
        ctx.body = '';
        return;
      }
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Allow-Methods', ALLOWED_METHODS);
      ctx.set('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      ctx.set('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_SECONDS));
      ctx.status = 204;
      return;
    }
    if (allowed) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    }
    await next();
  };
}
