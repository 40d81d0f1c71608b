import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1: headers meaningful for one connection only, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
]);

/**
 * Removes hop-by-hop headers, including any the Connection header names. Connection may come as
 * a list (undici keeps each header line apart where node:http joins them with commas).
 */
export function stripHopByHop(headers: IncomingHttpHeaders | OutgoingHttpHeaders): void {
  const connection = headers.connection;
  if (connection !== undefined) {
    for (const name of (Array.isArray(connection) ? connection.join(',') : String(connection)).split(',')) {
      const n = name.trim().toLowerCase();
      if (n && n !== 'close' && n !== 'keep-alive') delete headers[n];
    }
  }
  for (const name of HOP_BY_HOP) delete headers[name];
}
