import type { IncomingHttpHeaders } from 'node:http';
import type { Context } from 'koa';
import { stripHopByHop } from './hop-by-hop.js';

/**
 * Client headers that never go upstream: the gateway's own credentials and cookies, and the
 * framing headers the gateway recomputes for the bytes it actually sends.
 */
const NOT_FORWARDED = ['host', 'authorization', 'cookie', 'content-length', 'transfer-encoding', 'expect'];

/** X-Forwarded-* describe the client's hop to us; any values the client sent are replaced, not trusted. */
export function forwardedHeaders(ctx: Context): Record<string, string> {
  const headers: Record<string, string> = {
    'x-forwarded-for': ctx.ip,
    'x-forwarded-proto': ctx.protocol,
    'x-forwarded-host': ctx.get('host'),
  };
  const requestId = ctx.state.requestId as string | undefined;
  if (requestId) headers['x-request-id'] = requestId;
  return headers;
}

/**
 * The headers of a request the gateway sends upstream on the client's behalf when it does not
 * simply stream the client's request (buffered bodies, inspected responses).
 */
export function upstreamRequestHeaders(ctx: Context): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = { ...ctx.req.headers };
  stripHopByHop(headers);
  for (const name of NOT_FORWARDED) delete headers[name];
  return { ...headers, ...forwardedHeaders(ctx) };
}
