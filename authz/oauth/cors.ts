import type { Context, Next } from 'koa';
import type { ClientRegistry } from './clients/client-registry.js';
import { isInteractivePath } from './paths.js';
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
function allowedOrigins(clients: ClientRegistry): ReadonlySet<string> {
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

type CorsAnswer =
  /** Not a cross-origin request this policy speaks to: no CORS headers. */
  | { kind: 'none' }
  /** A preflight, answered here and now (204 for a registered origin, a bare 403 otherwise). */
  | { kind: 'preflight'; status: 204 | 403; headers: Record<string, string> }
  /** An actual request: go on, and add these headers to whatever the answer is. */
  | { kind: 'actual'; headers: Record<string, string> };

interface CorsRequest {
  method: string;
  path: string;
  origin: string | undefined;
  /** The Access-Control-Request-Method header: its presence makes an OPTIONS a preflight. */
  requestMethod: string | undefined;
}

const NO_CORS: CorsAnswer = Object.freeze({ kind: 'none' });

/**
 * The policy as a value, so the authorization server (Koa) and the FHIR proxy (plain node:http)
 * apply exactly the same one.
 */
export function corsAnswer(request: CorsRequest, clients: ClientRegistry): CorsAnswer {
  const { origin } = request;
  if (!origin || isInteractivePath(request.path)) return NO_CORS;
  const allowed = allowedOrigins(clients).has(origin);
  // Answers differ by Origin, so shared caches must key on it.
  const vary = { Vary: 'Origin' };
  if (request.method === 'OPTIONS' && request.requestMethod) {
    if (!allowed) return { kind: 'preflight', status: 403, headers: { ...vary, 'Cache-Control': 'no-store' } };
    return {
      kind: 'preflight',
      status: 204,
      headers: {
        ...vary,
        'Cache-Control': 'no-store',
        'Access-Control-Allow-Origin': origin,
        'Access-Control-Allow-Methods': ALLOWED_METHODS,
        'Access-Control-Allow-Headers': ALLOWED_HEADERS,
        'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_SECONDS),
      },
    };
  }
  return { kind: 'actual', headers: allowed ? { ...vary, 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': EXPOSED_HEADERS } : vary };
}

/** The policy on the authorization server's endpoints. */
export function cors(deps: { runtime: RuntimeHolder }) {
  return async (ctx: Context, next: Next) => {
    const answer = corsAnswer(
      { method: ctx.method, path: ctx.path, origin: ctx.get('origin') || undefined, requestMethod: ctx.get('access-control-request-method') || undefined },
      deps.runtime.get().clients,
    );
    if (answer.kind === 'none') return next();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (name === 'Vary') ctx.vary(value);
      else ctx.set(name, value);
    }
    if (answer.kind === 'preflight') {
      ctx.status = answer.status;
      ctx.body = '';
      return;
    }
    await next();
  };
}
