import { FEDERATED_SIGN_IN_TTL_SECONDS } from '../records/federated-sign-ins.js';
import { randomToken } from '../../crypto/random-token.js';

/**
 * The cookie that binds a federated sign-in to the browser that started it. The sign-in record
 * keeps the SHA-256 of its value (records/federated-sign-ins.ts); a callback arriving without the
 * same cookie is refused, so an attacker cannot make a victim's browser complete a sign-in into
 * the attacker's account (login CSRF).
 *
 * One value per browser, not per sign-in: a second tab reuses it, so sign-ins started in two
 * tabs both complete. On https the cookie is `__Host-` prefixed (Secure, Path=/, no Domain), so
 * a sibling subdomain cannot plant one; Path=/ is harmless because the proxy never forwards
 * cookies upstream. SameSite=Lax: the provider's redirect back is a top-level GET navigation,
 * on which Lax cookies are sent.
 */
const COOKIE_NAME = 'fhirgw_federation';
const VALUE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function browserBindingCookieName(publicUrl: string): string {
  return isHttps(publicUrl) ? `__Host-${COOKIE_NAME}` : COOKIE_NAME;
}

/** The binding value the request's cookie carries, if it is well formed. */
export function readBrowserBinding(cookieHeader: string | undefined, publicUrl: string): string | undefined {
  const value = readCookie(cookieHeader, browserBindingCookieName(publicUrl));
  return value !== undefined && VALUE_PATTERN.test(value) ? value : undefined;
}

/**
 * The binding for a sign-in about to start: the browser's existing value, or a new one. The
 * cookie is always (re)set so it lives as long as the newest sign-in that relies on it.
 */
export function browserBindingFor(cookieHeader: string | undefined, publicUrl: string): { value: string; setCookie: string } {
  const value = readBrowserBinding(cookieHeader, publicUrl) ?? randomToken(32);
  const secure = isHttps(publicUrl) ? '; Secure' : '';
  return {
    value,
    setCookie: `${browserBindingCookieName(publicUrl)}=${value}; Path=/; Max-Age=${FEDERATED_SIGN_IN_TTL_SECONDS}; HttpOnly; SameSite=Lax${secure}`,
  };
}

function isHttps(publicUrl: string): boolean {
  return new URL(publicUrl).protocol === 'https:';
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
