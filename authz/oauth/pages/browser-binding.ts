import { oauthPagesCookie, readCookie } from '../records/browser-sessions.js';
import { INTERACTION_TTL_SECONDS } from '../settings.js';
import { randomToken, sha256Hex } from '../../crypto/random-token.js';

/**
 * Ties a sign-in to the browser that started it (login CSRF, OWASP ASVS V4.2.2). The authorize
 * request sets a random value in an HttpOnly, SameSite=Lax cookie; the interaction stores its
 * digest and the login and consent forms' CSRF tokens cover it. A post is acted on only when it
 * carries the cookie of the browser that opened the form:
 * - a cross-site page posting the form (with the attacker's own interaction, CSRF token and
 *   credentials) from the victim's browser sends no cookie (SameSite=Lax keeps it off cross-site
 *   POSTs), so it is refused and the victim is never signed in as the attacker;
 * - a post with another browser's cookie does not match the interaction it names.
 *
 * One value per browser, reused by every flow it starts while the cookie lives, so two tabs
 * signing in at once do not overwrite each other's binding. SameSite=Lax rather than Strict for
 * the same reason: the authorize request is a top-level navigation from the app's site, and with
 * Strict the browser would not send the existing value there, so each flow would replace it.
 */
export const BROWSER_BINDING_COOKIE = 'fhirgw_flow';

const VALUE = /^[A-Za-z0-9_-]{43}$/;

export interface BrowserBinding {
  /** The cookie value (256 random bits): goes into the CSRF tokens of this browser's forms. */
  value: string;
  /** The Set-Cookie header that (re)sets it for the length of an interaction. */
  setCookie: string;
}

/** The binding a browser presents, when its Cookie header carries a well-formed one. */
export function browserBindingOf(cookieHeader: string | undefined): string | undefined {
  const value = readCookie(cookieHeader, BROWSER_BINDING_COOKIE);
  return value !== undefined && VALUE.test(value) ? value : undefined;
}

/** The binding for a flow this request starts: the browser's existing one, or a new one. */
export function bindBrowser(publicUrl: string, cookieHeader: string | undefined): BrowserBinding {
  const value = browserBindingOf(cookieHeader) ?? randomToken(32);
  // Like the session cookie: only the OAuth pages read it, the FHIR API never sees it.
  return { value, setCookie: oauthPagesCookie(publicUrl, BROWSER_BINDING_COOKIE, value, INTERACTION_TTL_SECONDS) };
}

/** What an interaction keeps of the binding: a digest, so a copy of the store yields no cookie. */
export function bindingDigest(value: string): string {
  return sha256Hex(`browser-binding\n${value}`);
}
