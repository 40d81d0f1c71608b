import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Runtime } from '../../runtime.js';
import type { FederatedPerson } from '../federation/federated-person.js';
import { SESSION_TTL_SECONDS } from '../settings.js';
import { randomToken, sha256Hex } from '../../crypto/random-token.js';
import { sharedSecret } from '../../crypto/shared-secret.js';

/**
 * The signed-in browser: a random session id in an HttpOnly, SameSite=Lax cookie, signed so a
 * forged id is refused without a store round trip, and kept in the store so it can expire and
 * be shared by every gateway instance.
 */
export const SESSION_COOKIE = 'fhirgw_session';

export interface BrowserSession extends SessionSubject {
  id: string;
}

/** Who a session is for. */
export interface SessionSubject {
  /** A configured user's username, or a federated person's key (FederatedPerson.key). */
  username: string;
  /** Seconds since the epoch when the person authenticated (OIDC auth_time). */
  authTime: number;
  /** Present when the person signed in through an identity provider. */
  person?: FederatedPerson;
  /** The provider's ID token, kept only for `id_token_hint` at its logout: a credential, never logged. */
  idToken?: string;
}

type StoredSession = SessionSubject;

const storeKey = (id: string) => `session:${sha256Hex(id)}`;

async function sign(runtime: Runtime, id: string): Promise<string> {
  const key = await sharedSecret(runtime.store, 'session-cookie');
  return createHmac('sha256', key).update(`session\n${id}`).digest('base64url');
}

/** A configured user who typed their password just now. */
export function localSignIn(username: string): SessionSubject {
  return { username, authTime: Math.floor(Date.now() / 1000) };
}

/** A person the identity provider just vouched for. */
export function federatedSignIn(person: FederatedPerson, idToken: string): SessionSubject {
  return { username: person.key, authTime: person.authTime, person, idToken };
}

export async function startSession(runtime: Runtime, subject: SessionSubject): Promise<{ session: BrowserSession; setCookie: string }> {
  const id = randomToken(32);
  const stored: StoredSession = subject;
  await runtime.store.set(storeKey(id), JSON.stringify(stored), SESSION_TTL_SECONDS);
  const value = `${id}.${await sign(runtime, id)}`;
  return { session: { id, ...subject }, setCookie: oauthPagesCookie(runtime.publicUrl, SESSION_COOKIE, value, SESSION_TTL_SECONDS) };
}

/** Ends the session (logout): the record goes, and the cookie is cleared. */
export async function endSession(runtime: Runtime, session: BrowserSession): Promise<string> {
  await runtime.store.delete(storeKey(session.id));
  return oauthPagesCookie(runtime.publicUrl, SESSION_COOKIE, '', 0);
}

/** The session named by the request's cookie, if its signature holds and the store still has it. */
export async function currentSession(runtime: Runtime, cookieHeader: string | undefined): Promise<BrowserSession | undefined> {
  const value = readCookie(cookieHeader, SESSION_COOKIE);
  const match = value === undefined ? null : /^([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match) return undefined;
  const [, id, signature] = match as unknown as [string, string, string];
  const expected = Buffer.from(await sign(runtime, id));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
  const stored = await runtime.store.get(storeKey(id));
  if (stored === null) return undefined;
  const parsed = JSON.parse(stored) as StoredSession;
  return { id, ...parsed };
}

/** A Set-Cookie for the OAuth pages: HttpOnly, SameSite=Lax, Secure on https. */
export function oauthPagesCookie(publicUrl: string, name: string, value: string, maxAgeSeconds: number): string {
  const url = new URL(publicUrl);
  // Only the OAuth pages need it; the FHIR API never sees the cookie.
  const path = `${url.pathname.replace(/\/+$/, '')}/oauth/`;
  const secure = url.protocol === 'https:' ? '; Secure' : '';
  return `${name}=${value}; Path=${path}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure}`;
}

/** The value of cookie `name` in a Cookie request header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
