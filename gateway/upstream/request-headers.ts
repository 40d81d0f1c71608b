import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { normalizeHeaderName } from '../../config/upstream-schema.js';
import type { Exchange } from '../http/exchange.js';
import { stripHopByHop } from './hop-by-hop.js';

/**
 * Client headers that never go upstream: the gateway's own credentials and cookies, and the
 * framing headers the forwarder recomputes for the bytes it actually sends.
 */
const NOT_FORWARDED = ['host', 'authorization', 'cookie', 'content-length', 'transfer-encoding', 'expect'];

/**
 * Headers a server behind proxies may take as the client's address, scheme, host or port, or as
 * the path the request "really" was for (besides every X-Forwarded-*). Only the gateway may say
 * these: a client's copy is dropped, in any case and with `_` for `-` (a CGI-style server reads
 * X_Forwarded_For as X-Forwarded-For).
 */
const CLIENT_ROUTING = new Set([
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'x-cluster-client-ip',
  'client-ip',
  'x-host',
  'x-original-host',
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
]);

function isClientRouting(name: string): boolean {
  const normalized = normalizeHeaderName(name);
  return normalized.startsWith('x-forwarded-') || CLIENT_ROUTING.has(normalized);
}

/** X-Forwarded-* describe the client's hop to us; any values the client sent are dropped, not trusted. */
export function forwardedHeaders(exchange: Exchange): Record<string, string> {
  const { req } = exchange;
  return {
    'x-forwarded-for': exchange.clientIp,
    'x-forwarded-proto': (req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http',
    'x-forwarded-host': req.headers.host ?? '',
    'x-request-id': exchange.requestId,
  };
}

/** The headers of a request the gateway sends upstream on the client's behalf. */
export function upstreamRequestHeaders(exchange: Exchange): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = { ...exchange.req.headers };
  stripHopByHop(headers);
  for (const name of NOT_FORWARDED) delete headers[name];
  for (const name in headers) if (isClientRouting(name)) delete headers[name];
  return Object.assign(headers, forwardedHeaders(exchange));
}

/** Headers for a request of the gateway's own (a stored resource, /metadata): only who it is for. */
export function ownRequestHeaders(exchange: Exchange): IncomingHttpHeaders {
  return { accept: 'application/fhir+json', ...forwardedHeaders(exchange) };
}
