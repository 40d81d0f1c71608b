import type { Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { hashPassword } from '../../authz/oauth/users/password-hash.js';
import { startFhirUpstream } from '../../gateway/demo/fhir-upstream.js';
import { freePort } from './free-port.js';
import type { GatewayProcess } from './gateway-process.js';
import { ALICE, BOB, CookieJar, FORM, formOfPage, WEB_REDIRECT, WEB_SECRET } from './oauth-fixtures.js';
import { baseRawConfig } from './stack.js';

/**
 * Signing in to a CLI-started gateway, as the sign-in protection tests need it: a raw config with
 * users and a web client behind a trusted proxy (so each case picks its client address with
 * X-Forwarded-For), one login-page attempt, one password grant.
 */

const hashes = Promise.all([hashPassword(ALICE.password), hashPassword(BOB.password)]);

export async function signInConfig(t: Test, loginProtection?: Record<string, unknown>): Promise<Record<string, any>> {
  const [aliceHash, bobHash] = await hashes;
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  const raw = baseRawConfig(await freePort(), upstream.baseUrl);
  raw.audit = { enabled: false };
  raw.server.trusted_proxies = ['127.0.0.1'];
  raw.users = [
    { username: ALICE.username, password_hash: aliceHash, patient: 'Patient/pat-alice', scope: 'patient/*.rs' },
    { username: BOB.username, password_hash: bobHash, fhir_user: 'Practitioner/doc-bob', scope: 'user/*.rs' },
  ];
  raw.clients.push({
    client_id: 'web',
    client_secret: WEB_SECRET,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'password'],
    scope: 'launch/patient patient/*.rs user/*.rs',
    redirect_uris: [WEB_REDIRECT],
  });
  if (loginProtection !== undefined) raw.login_protection = loginProtection;
  return raw;
}

export interface Answer {
  status: number;
  text: string;
}

/** One sign-in on the login page, from `ip`: open the authorize URL, post the form. */
export async function loginPage(gw: GatewayProcess, ip: string, username: string, password: string): Promise<Answer> {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(`${gw.url}/oauth/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: 'web',
    redirect_uri: WEB_REDIRECT,
    scope: 'launch/patient patient/*.rs',
    state: randomBytes(8).toString('hex'),
    aud: gw.url,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const jar = new CookieJar();
  const start = await fetch(url, { redirect: 'manual', headers: { 'x-forwarded-for': ip } });
  jar.take(start);
  const form = formOfPage(start.status, await start.text());
  const res = await fetch(`${gw.url}/oauth/authorize/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': FORM, 'x-forwarded-for': ip, cookie: jar.header()! },
    body: new URLSearchParams({ csrf: form.csrf, interaction: form.interaction, username, password }).toString(),
  });
  return { status: res.status, text: await res.text() };
}

/** One password grant (RFC 6749 §4.3) from `ip`. */
export async function passwordGrant(gw: GatewayProcess, ip: string, username: string, password: string): Promise<{ status: number; body: { error?: string; error_description?: string; access_token?: string } }> {
  const res = await fetch(`${gw.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': FORM, 'x-forwarded-for': ip, authorization: 'Basic ' + Buffer.from(`web:${WEB_SECRET}`).toString('base64') },
    body: new URLSearchParams({ grant_type: 'password', username, password, scope: 'user/*.rs' }).toString(),
  });
  return { status: res.status, body: (await res.json()) as never };
}

export const WRONG = /Wrong username or password/;
export const LOCKED = /Too many failed sign-in attempts/;
export const CONSENT = /name="decision"/;
