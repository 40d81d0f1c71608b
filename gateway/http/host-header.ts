import type { IncomingMessage } from 'node:http';
import { isIPv6 } from 'node:net';

/** RFC 3986 §3.2.2 reg-name or IPv4address (unreserved, pct-encoded, sub-delims), then §3.2.3 `[ ":" port ]`. */
const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*(?::[0-9]*)?$/;
/** RFC 3986 §3.2.2 IP-literal (an IPv6 address in brackets), then `[ ":" port ]`. */
const IP_LITERAL = /^\[([^\]]*)\](?::[0-9]*)?$/;

/**
 * Why the request's Host header is unacceptable, or undefined when it is fine. RFC 9112 §3.2: a
 * server MUST answer 400 to a request with more than one Host, or with a Host that is not
 * `uri-host [ ":" port ]`. The gateway passes the Host on as X-Forwarded-Host, so anything else
 * would reach the upstream. Node keeps only the first of several Host lines in `req.headers`;
 * `req.rawHeaders` has them all. A missing Host on HTTP/1.1 never gets here: node's parser
 * answers 400 itself (`requireHostHeader`, on by default); HTTP/1.0 may omit it.
 */
export function hostHeaderProblem(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') count++;
  }
  if (count > 1) return 'more than one Host header';
  const host = req.headers.host;
  if (host === undefined || isHostAndPort(host)) return undefined;
  return 'the Host header is not a host name or address with an optional port (RFC 3986)';
}

function isHostAndPort(value: string): boolean {
  if (REG_NAME.test(value)) return true;
  const literal = IP_LITERAL.exec(value);
  return literal !== null && isIPv6(literal[1]!);
}
