import { missingToken, type Refusal } from './refusals.js';

/**
 * RFC 6750 §2.1: the token comes in the Authorization header only. Query (`access_token=`) and
 * form-body tokens are not accepted: they end up in logs and caches.
 */
type BearerExtraction =
  | { kind: 'token'; token: string }
  | { kind: 'missing' }
  | { kind: 'other-scheme' }
  | { kind: 'malformed' };

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

function extractBearer(authorization: string | undefined): BearerExtraction {
  if (authorization === undefined || authorization === '') return { kind: 'missing' };
  const space = authorization.indexOf(' ');
  const scheme = space < 0 ? authorization : authorization.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') return { kind: 'other-scheme' };
  const token = authorization.slice(space + 1).trim();
  if (space < 0 || !TOKEN68.test(token)) return { kind: 'malformed' };
  return { kind: 'token', token };
}

/** Stage 2: the bearer token of the request, or the 401/400 that says how to send one. */
export function bearerToken(authorization: string | undefined): string | Refusal {
  const bearer = extractBearer(authorization);
  return bearer.kind === 'token' ? bearer.token : missingToken(bearer.kind);
}
