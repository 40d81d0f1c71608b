import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * CSRF tokens for the login and consent forms: `<issued-at seconds>.<HMAC>` where the HMAC
 * covers the interaction id, the browser binding (the cookie set when the flow started,
 * authz/oauth/pages/browser-binding.ts) and the issue time. No server state is needed, a token
 * minted for one interaction or one browser is useless for another, and it stops working after
 * 10 minutes. Binding it to the browser is what stops login CSRF: an attacker can mint tokens for
 * interactions of their own, but not for a cookie the victim's browser holds.
 */

export const CSRF_TOKEN_TTL_SECONDS = 10 * 60;
/** Tokens "issued" slightly in the future are tolerated, for instances whose clocks differ. */
const FUTURE_SKEW_SECONDS = 30;
const MIN_KEY_BYTES = 32;
// Keeps these MACs apart from anything else the same key might be used for.
const PURPOSE = 'fhir-oauth-gateway/csrf/v2';
const TOKEN_PATTERN = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

type CsrfKey = string | Uint8Array;

interface CsrfClock {
  /** Milliseconds since the epoch; defaults to Date.now. */
  now?: () => number;
}

export function createCsrfToken(secretKey: CsrfKey, interactionId: string, browserBinding: string, clock: CsrfClock = {}): string {
  assertUsableKey(secretKey);
  const issuedAt = Math.floor((clock.now ?? Date.now)() / 1000);
  return `${issuedAt}.${mac(secretKey, interactionId, browserBinding, issuedAt).toString('base64url')}`;
}

export function verifyCsrfToken(secretKey: CsrfKey, interactionId: string, browserBinding: string | undefined, token: unknown, clock: CsrfClock = {}): boolean {
  assertUsableKey(secretKey);
  if (typeof token !== 'string' || typeof interactionId !== 'string' || interactionId === '') return false;
  if (typeof browserBinding !== 'string' || browserBinding === '') return false;
  const match = TOKEN_PATTERN.exec(token);
  if (!match) return false;
  const issuedAt = Number(match[1]);
  const nowSeconds = Math.floor((clock.now ?? Date.now)() / 1000);
  if (issuedAt > nowSeconds + FUTURE_SKEW_SECONDS) return false;
  if (nowSeconds - issuedAt > CSRF_TOKEN_TTL_SECONDS) return false;
  const presented = Buffer.from(match[2]!, 'base64url');
  const expected = mac(secretKey, interactionId, browserBinding, issuedAt);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

function mac(secretKey: CsrfKey, interactionId: string, browserBinding: string, issuedAt: number): Buffer {
  // Length-prefixing id and binding means no (id, binding, time) triple can be confused with another.
  const message = `${PURPOSE}\n${interactionId.length}:${interactionId}\n${browserBinding.length}:${browserBinding}\n${issuedAt}`;
  return createHmac('sha256', secretKey).update(message, 'utf8').digest();
}

function assertUsableKey(secretKey: CsrfKey): void {
  const length = typeof secretKey === 'string' ? Buffer.byteLength(secretKey, 'utf8') : secretKey.byteLength;
  if (length < MIN_KEY_BYTES) {
    throw new Error(`CSRF secret key must be at least ${MIN_KEY_BYTES} bytes`);
  }
}
