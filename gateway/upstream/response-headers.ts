import type { IncomingHttpHeaders } from 'node:http';
import { stripHopByHop } from './hop-by-hop.js';

/** Removes the upstream's base URL from a URL that would otherwise reveal it to the client. */
function rewriteUpstreamUrl(value: string, upstreamBase: string, publicBase: string): string {
  if (value === upstreamBase || value.startsWith(upstreamBase + '/') || value.startsWith(upstreamBase + '?')) {
    return publicBase + value.slice(upstreamBase.length);
  }
  return value;
}

/**
 * What every forwarder does to the upstream's response headers before the client sees them:
 * hop-by-hop headers go, the upstream's URLs become the gateway's, and framing is left to the
 * gateway's own connection.
 */
export function cleanResponseHeaders(headers: IncomingHttpHeaders, upstreamBase: string, publicBase: string): void {
  stripHopByHop(headers);
  delete headers['transfer-encoding'];
  for (const name of ['location', 'content-location'] as const) {
    const value = headers[name];
    if (typeof value === 'string') headers[name] = rewriteUpstreamUrl(value, upstreamBase, publicBase);
  }
}
