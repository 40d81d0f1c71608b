/**
 * Reading a token endpoint's answer: RFC 6749 §5.1 (success) and §5.2 (error). Only what the
 * gateway can use is accepted: a Bearer token (RFC 6750) it can put in a header as it is, with a
 * lifetime.
 */
import type { JsonAnswer } from './token-http.js';
import { UpstreamCredentialsError } from './upstream-credentials.js';

export interface FetchedToken {
  accessToken: string;
  /** Seconds the token is valid from the moment it was received. */
  expiresIn: number;
}

/**
 * RFC 6749 §5.1 only RECOMMENDS expires_in. Without it the token is kept this long: short, so an
 * unknown lifetime costs a token request a minute, and an upstream 401 renews it sooner anyway.
 */
export const DEFAULT_EXPIRES_IN_SECONDS = 60;

/** Printable ASCII without spaces: safe in an Authorization header (RFC 6750 b64token is stricter still). */
const HEADER_SAFE_TOKEN = /^[\x21-\x7E]+$/;
const OAUTH_ERROR_CODE = /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$/;

export function readTokenResponse(answer: JsonAnswer, endpoint: string): FetchedToken {
  const body = isObject(answer.json) ? answer.json : undefined;
  if (answer.status !== 200) {
    const code = typeof body?.['error'] === 'string' && OAUTH_ERROR_CODE.test(body['error']) ? body['error'] : undefined;
    if (code !== undefined && answer.status >= 400 && answer.status < 500) {
      const description = typeof body?.['error_description'] === 'string' ? `: ${printable(body['error_description'], 200)}` : '';
      return fail('refused', `${endpoint} refused the gateway's token request (HTTP ${answer.status}, ${code}${description})`);
    }
    return fail('http_error', `${endpoint} answered HTTP ${answer.status} to the gateway's token request`);
  }
  if (body === undefined) return fail('invalid_response', `${endpoint} answered 200 without a JSON object`);
  const token = body['access_token'];
  if (typeof token !== 'string' || !HEADER_SAFE_TOKEN.test(token)) {
    return fail('invalid_response', `${endpoint} answered without a usable access_token`);
  }
  const type = body['token_type'];
  if (typeof type !== 'string' || type.toLowerCase() !== 'bearer') {
    return fail('invalid_response', `${endpoint} issued a token of type ${JSON.stringify(printable(String(type), 40))}; the gateway sends Bearer tokens only`);
  }
  const expiresIn = body['expires_in'];
  if (expiresIn === undefined) return { accessToken: token, expiresIn: DEFAULT_EXPIRES_IN_SECONDS };
  // Some servers send the number as a string; both mean seconds.
  const seconds = typeof expiresIn === 'string' && /^\d+$/.test(expiresIn) ? Number(expiresIn) : expiresIn;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
    return fail('invalid_response', `${endpoint} answered with an expires_in that is not a positive number of seconds`);
  }
  return { accessToken: token, expiresIn: seconds };
}

function fail(failure: 'refused' | 'http_error' | 'invalid_response', message: string): never {
  throw new UpstreamCredentialsError(failure, message);
}

/** A server-written string, cut short and without control characters, for a log line. */
function printable(text: string, max: number): string {
  const clean = text.replace(/[\x00-\x1F\x7F]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
