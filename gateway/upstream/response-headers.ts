import type { IncomingHttpHeaders, OutgoingHttpHeader, ServerResponse } from 'node:http';
import { stripHopByHop } from './hop-by-hop.js';

/**
 * Upstream headers that would speak for the gateway's origin: cookies (the browser would keep
 * them for the gateway, next to its session cookie) and CORS, which the gateway alone decides
 * (authz/oauth/cors.ts) and sets on the response before the upstream answers.
 */
const ORIGIN_HEADERS = ['set-cookie'];
const CORS_PREFIX = 'access-control-';

const SLASH = 47;
const QUESTION = 63;

/** Whether a URL is the upstream's base or under it (followed by `/` or `?`): `http://up/fhirx` is not under `http://up/fhir`. */
export function isUnderBase(value: string, base: string): boolean {
  if (!value.startsWith(base)) return false;
  const next = value.charCodeAt(base.length);
  return Number.isNaN(next) || next === SLASH || next === QUESTION;
}

/** Removes the upstream's base URL from a URL that would otherwise reveal it to the client. */
function rewriteUpstreamUrl(value: string, upstreamBase: string, publicBase: string): string {
  return isUnderBase(value, upstreamBase) ? publicBase + value.slice(upstreamBase.length) : value;
}

/**
 * A Link header (RFC 8288: `<uri>; rel="next", <uri>; rel="help"`) with every `<uri>` that names
 * the upstream made the gateway's; other links, the parameters and anything inside a quoted
 * parameter value are left as they are.
 */
function rewriteLinkHeader(value: string, upstreamBase: string, publicBase: string): string {
  if (!value.includes(upstreamBase)) return value;
  let out = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted && c === '\\') {
      // quoted-pair: the escaped character cannot end the quoted string.
      out += value.slice(i, i + 2);
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === '<' && !quoted) {
      const end = value.indexOf('>', i);
      if (end === -1) return out + value.slice(i);
      out += `<${rewriteUpstreamUrl(value.slice(i + 1, end), upstreamBase, publicBase)}>`;
      i = end;
      continue;
    }
    out += c;
  }
  return out;
}

/**
 * What every forwarder does to the upstream's response headers before the client sees them:
 * hop-by-hop headers go, so do cookies and CORS headers for the gateway's origin, the upstream's
 * URLs (Location, Content-Location, Link) become the gateway's, and framing is left to the
 * gateway's own connection.
 */
export function cleanResponseHeaders(headers: IncomingHttpHeaders, upstreamBase: string, publicBase: string): void {
  stripHopByHop(headers);
  delete headers['transfer-encoding'];
  for (const name of ORIGIN_HEADERS) delete headers[name];
  for (const name in headers) if (name.startsWith(CORS_PREFIX)) delete headers[name];
  for (const name of ['location', 'content-location'] as const) {
    const value = headers[name];
    if (typeof value === 'string') headers[name] = rewriteUpstreamUrl(value, upstreamBase, publicBase);
  }
  const link = headers.link;
  if (link !== undefined) {
    headers.link = Array.isArray(link) ? link.map((value) => rewriteLinkHeader(value, upstreamBase, publicBase)) : rewriteLinkHeader(link, upstreamBase, publicBase);
  }
}

/**
 * Writes a streamed answer's status and (cleaned) headers. The upstream's Vary is joined to the
 * gateway's own (a CORS answer varies by Origin) instead of replacing it; every other header the
 * gateway set earlier stays unless the upstream sends the same one.
 */
export function writeUpstreamHead(res: ServerResponse, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
  const vary = headers.vary;
  if (vary !== undefined) {
    delete headers.vary;
    res.setHeader('vary', joinVary(res.getHeader('vary'), vary));
  }
  if (statusMessage === undefined) res.writeHead(status, headers);
  else res.writeHead(status, statusMessage, headers);
}

/** Both Vary lists as one, each name once (`*` stands for all). */
export function joinVary(own: OutgoingHttpHeader | undefined, upstream: OutgoingHttpHeader): string {
  const names = new Map<string, string>();
  for (const value of [own ?? [], upstream].flat()) {
    for (const name of String(value).split(',')) {
      const trimmed = name.trim();
      if (trimmed) names.set(trimmed.toLowerCase(), trimmed);
    }
  }
  return names.has('*') ? '*' : [...names.values()].join(', ');
}
