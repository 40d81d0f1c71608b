import type { Test } from 'tap';
import * as oidc from 'openid-client';
import { hashPassword } from '../../authz/oauth/users/password-hash.js';
import { startStack, type Stack, type StoreKind } from './stack.js';

/**
 * A gateway configured for the interactive flows: users with launch context, a confidential web
 * app, a public SPA, a code-only public app, a seeded patient, and helpers that drive the login
 * and consent forms over plain HTTP (the browser test drives the same pages in Chromium).
 */

export const PATIENT_ID = 'pat-alice';
export const OTHER_PATIENT_ID = 'pat-other';
export const ALICE = { username: 'alice', password: 'correct horse battery staple' };
export const BOB = { username: 'dr-bob', password: 'bob-password-9876' };
export const WEB_SECRET = 'web-app-secret-0123456789';
export const WEB_REDIRECT = 'https://app.example.com/callback';
export const SPA_REDIRECT = 'https://spa.example.org/cb';
export const CODE_ONLY_REDIRECT = 'https://code-only.example.net/cb';

const hashes = Promise.all([hashPassword(ALICE.password), hashPassword(BOB.password)]);

export interface OAuthStackOptions {
  store: StoreKind;
  /** Extra redirect URIs for the web app (the browser test's local server). */
  webRedirects?: string[];
  edit?: (raw: Record<string, any>) => void;
}

export async function startOAuthStack(t: Test, options: OAuthStackOptions): Promise<Stack> {
  const [aliceHash, bobHash] = await hashes;
  const stack = await startStack(t, {
    store: options.store,
    edit: (raw) => {
      raw.users = [
        {
          username: ALICE.username,
          password_hash: aliceHash,
          fhir_user: `Patient/${PATIENT_ID}`,
          patient: `Patient/${PATIENT_ID}`,
          scope: 'patient/*.cruds',
        },
        { username: BOB.username, password_hash: bobHash, fhir_user: 'Practitioner/doc-bob', scope: 'user/*.rs' },
      ];
      raw.clients.push(
        {
          client_id: 'web',
          client_name: 'Web Chart',
          client_secret: WEB_SECRET,
          token_endpoint_auth_method: 'client_secret_basic',
          grant_types: ['authorization_code', 'refresh_token', 'password'],
          scope: 'openid fhirUser launch/patient offline_access online_access patient/*.cruds user/*.rs',
          redirect_uris: [WEB_REDIRECT, ...(options.webRedirects ?? [])],
        },
        {
          client_id: 'spa',
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code', 'refresh_token', 'implicit'],
          scope: 'openid fhirUser launch/patient offline_access patient/*.rs user/*.rs',
          redirect_uris: [SPA_REDIRECT],
        },
        {
          client_id: 'code-only',
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code'],
          scope: 'launch/patient patient/*.rs',
          redirect_uris: [CODE_ONLY_REDIRECT],
        },
      );
      options.edit?.(raw);
    },
  });
  await stack.upstream.seed([
    { resourceType: 'Patient', id: PATIENT_ID, name: [{ family: 'Alice' }] },
    { resourceType: 'Patient', id: OTHER_PATIENT_ID, name: [{ family: 'Other' }] },
  ] as never);
  return stack;
}

/** openid-client configuration for one of the stack's clients. */
export async function discover(stack: Stack, clientId: string, auth: oidc.ClientAuth, secret?: string): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(stack.gateway.url), clientId, secret, auth, {
    algorithm: 'oauth2',
    execute: [oidc.allowInsecureRequests],
  });
}

export const FORM = 'application/x-www-form-urlencoded';

function hiddenField(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]+)"`).exec(html);
  if (!match) throw new Error(`no hidden ${name} field in page: ${html.slice(0, 300)}`);
  return match[1]!;
}

export interface PageForm {
  status: number;
  html: string;
  csrf: string;
  interaction: string;
}

export function formOfPage(status: number, html: string): PageForm {
  return { status, html, csrf: hiddenField(html, 'csrf'), interaction: hiddenField(html, 'interaction') };
}

/**
 * A browser's cookie jar, reduced to what the gateway's pages need: every Set-Cookie kept by
 * name (path and expiry are the gateway's own, /oauth/, so every page request carries them all).
 */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  constructor(header?: string) {
    for (const part of header?.split(';') ?? []) this.set(part);
  }

  /** Keeps the cookies a response sets. */
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) this.set(line.split(';')[0]!);
  }

  /** The Cookie request header, or undefined when empty. */
  header(): string | undefined {
    return this.cookies.size === 0 ? undefined : [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  private set(pair: string): void {
    const eq = pair.indexOf('=');
    if (eq > 0) this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
}

export async function postForm(url: string, fields: Record<string, string>, cookie?: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': FORM, ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams(fields).toString(),
  });
}

export interface BrowserRun {
  /** The redirect back to the client (Location), when the flow got that far. */
  location?: string;
  /** The browser's cookies (session and flow binding) as a Cookie header, to reuse in a later authorization. */
  cookie?: string;
  /** The last page shown, when the flow stopped on one. */
  lastPage?: { status: number; html: string };
}

/**
 * What a browser does: open the authorize URL, sign in (unless the cookie is still signed in),
 * press Allow or Deny, and follow nothing past the redirect back to the client.
 */
export async function authorizeInBrowser(
  stack: { gateway: { url: string } },
  authorizeUrl: URL | string,
  options: { user?: { username: string; password: string }; decision?: 'allow' | 'deny'; cookie?: string } = {},
): Promise<BrowserRun> {
  const base = stack.gateway.url;
  const jar = new CookieJar(options.cookie);
  const withCookies = (): Record<string, string> => {
    const header = jar.header();
    return header ? { cookie: header } : {};
  };
  const start = await fetch(authorizeUrl, { redirect: 'manual', headers: withCookies() });
  jar.take(start);
  if (start.status === 302) return { location: start.headers.get('location')! };
  const startHtml = await start.text();
  if (start.status !== 200) return { lastPage: { status: start.status, html: startHtml } };

  let consentPage: PageForm;
  if (startHtml.includes('name="password"')) {
    const login = formOfPage(start.status, startHtml);
    const user = options.user ?? ALICE;
    const res = await postForm(
      `${base}/oauth/authorize/login`,
      { csrf: login.csrf, interaction: login.interaction, username: user.username, password: user.password },
      jar.header(),
    );
    jar.take(res);
    if (res.status === 303) return { location: res.headers.get('location')! };
    const html = await res.text();
    if (res.status !== 200) return { lastPage: { status: res.status, html } };
    consentPage = formOfPage(res.status, html);
  } else {
    consentPage = formOfPage(start.status, startHtml);
  }
  const decided = await postForm(
    `${base}/oauth/authorize/consent`,
    { csrf: consentPage.csrf, interaction: consentPage.interaction, decision: options.decision ?? 'allow' },
    jar.header(),
  );
  jar.take(decided);
  const cookie = jar.header();
  if (decided.status !== 303) return { ...(cookie ? { cookie } : {}), lastPage: { status: decided.status, html: await decided.text() } };
  return { location: decided.headers.get('location')!, ...(cookie ? { cookie } : {}) };
}

/** The authorize URL openid-client builds, plus the SMART `aud`. */
export function authorizeUrl(config: oidc.Configuration, stack: Stack, params: Record<string, string>): URL {
  return oidc.buildAuthorizationUrl(config, { aud: stack.gateway.url, ...params });
}

export async function fhirGet(stack: Stack, token: string, path: string): Promise<Response> {
  return fetch(`${stack.gateway.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
}

/** Asserts that an openid-client call fails with this OAuth error code. */
export async function rejectsWithOAuthError(t: Test, promise: Promise<unknown>, code: string, message: string): Promise<void> {
  try {
    await promise;
    t.fail(`${message}: expected ${code}, but the call succeeded`);
  } catch (err) {
    t.equal((err as { error?: string }).error, code, message);
  }
}
