import type { Test } from 'tap';
import * as oidc from 'openid-client';
import type { Resource } from '@medplum/fhirtypes';
import { hashPassword } from '../../authz/oauth/users/password-hash.js';
import { startFhirUpstream, type FhirUpstream, type ReceivedRequest } from '../../gateway/demo/fhir-upstream.js';
import { freePort } from './free-port.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { CookieJar } from './oauth-fixtures.js';
import { basic } from './ops-helpers.js';
import { startTestOidcProvider, type TestOidcProvider, type TestOidcProviderOptions } from './oidc-provider.js';
import { startRedisServerFor } from './redis-server.js';

/**
 * The gateway as an operator runs it (the compiled CLI, test/support/gateway-process.ts) with
 * everything issue 10 brings: an app with a launch URI, EHR clients, a patient and two
 * practitioners as configured users, optionally the in-process OpenID provider as the
 * hospital's identity provider, and a seeded FHIR server in this process (so the test sees what
 * reached it). `PageBrowser` plays the browser over plain HTTP: cookies, forms, no redirects
 * followed, so every step can be asserted.
 */

export const PATIENT_USER = { username: 'alice', password: 'alice-password-1234', patient: 'pat-alice' };
/** A practitioner with no patient of her own: user/*.rs and patient/*.rs. */
export const PRACTITIONER = { username: 'dr-bob', password: 'bob-password-9876', fhirUser: 'Practitioner/pract-bob' };
/** A practitioner who may only see female patients (a granular user/ scope). */
export const NARROW_PRACTITIONER = { username: 'dr-nora', password: 'nora-password-5555', fhirUser: 'Practitioner/pract-nora' };

export const APP = {
  clientId: 'chart',
  secret: 'chart-app-secret-0123456789',
  redirectUri: 'https://chart.example.org/callback',
  launchUri: 'https://chart.example.org/launch?tenant=t1',
  scope: 'launch launch/patient launch/encounter openid fhirUser offline_access patient/*.rs user/*.rs',
};
/** A second app, to launch the first app's launch values with. */
export const OTHER_APP = { clientId: 'other-app', redirectUri: 'https://other.example.net/cb', launchUri: 'https://other.example.net/launch' };
export const EHR = { clientId: 'ehr', secret: 'ehr-secret-0123456789' };
export const NOT_EHR = { clientId: 'reporting', secret: 'reporting-secret-0123456789' };

export function seedRecords(): Resource[] {
  const observation = (id: string, patient: string): Resource => ({
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: `Patient/${patient}` },
  });
  return [
    { resourceType: 'Patient', id: 'pat-alice', name: [{ given: ['Alice'], family: 'Nguyen' }], gender: 'female', birthDate: '1984-03-12', identifier: [{ system: 'urn:mrn', value: 'MRN-1001' }] },
    { resourceType: 'Patient', id: 'pat-bob', name: [{ given: ['Bob'], family: 'Okafor' }], gender: 'male', birthDate: '1979-11-02', identifier: [{ system: 'urn:mrn', value: 'MRN-1002' }] },
    { resourceType: 'Patient', id: 'pat-carla', name: [{ given: ['Carla'], family: 'Rossi' }], gender: 'female', birthDate: '1992-07-25', identifier: [{ system: 'urn:mrn', value: 'MRN-1003' }] },
    observation('obs-alice', 'pat-alice'),
    observation('obs-bob', 'pat-bob'),
    { resourceType: 'Encounter', id: 'enc-bob', status: 'in-progress', class: { code: 'AMB' }, subject: { reference: 'Patient/pat-bob' } },
    { resourceType: 'Practitioner', id: 'pract-bob', name: [{ family: 'Bob' }] },
  ];
}

let hashes: Promise<string[]> | undefined;

export interface IdentityStackOptions {
  /** Start the in-process OpenID provider and configure it as identity provider `hospital-sso`. */
  idp?: Partial<TestOidcProviderOptions>;
  /** Keys of the identity_providers[] entry to replace. */
  idpEntry?: Record<string, unknown>;
  /** Configure the users (default true). */
  users?: boolean;
  /** Redis (started for the test) instead of the embedded store. */
  redis?: boolean;
  /** More redirect URIs for the chart app (a browser test's local landing server). */
  appRedirectUris?: string[];
  /** Edit the raw config before the gateway starts. */
  edit?: (raw: Record<string, any>) => void;
}

export interface IdentityStack {
  gateway: GatewayProcess;
  /** The gateway's public URL (= issuer = FHIR base). */
  base: string;
  upstream: FhirUpstream;
  idp?: TestOidcProvider;
  raw: Record<string, any>;
  /** Requests the FHIR server received since the last call. */
  takeReceived(): ReceivedRequest[];
  /** openid-client's view of the chart app (client_secret_basic). */
  app(): Promise<oidc.Configuration>;
  browser(): PageBrowser;
}

export async function startIdentityStack(t: Test, options: IdentityStackOptions = {}): Promise<IdentityStack> {
  hashes ??= Promise.all([hashPassword(PATIENT_USER.password), hashPassword(PRACTITIONER.password), hashPassword(NARROW_PRACTITIONER.password)]);
  const [aliceHash, bobHash, noraHash] = await hashes;
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed(seedRecords());
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const idp = options.idp !== undefined ? await startTestOidcProvider(t, { gatewayPublicUrl: base, ...options.idp }) : undefined;
  const redis = options.redis ? await startRedisServerFor(t) : undefined;

  const raw: Record<string, any> = {
    server: { host: '127.0.0.1', port, public_url: base },
    upstream: { url: upstream.baseUrl, timeout: '5s' },
    store: redis ? { url: redis.url, key_prefix: 'identity:' } : { key_prefix: 'identity:' },
    tokens: { access_token_ttl: '5m' },
    logging: { level: 'info' },
    audit: { enabled: false },
    clients: [
      {
        client_id: APP.clientId,
        client_name: 'Chart',
        client_secret: APP.secret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
        scope: APP.scope,
        redirect_uris: [APP.redirectUri, ...(options.appRedirectUris ?? [])],
        launch_uri: APP.launchUri,
      },
      {
        client_id: OTHER_APP.clientId,
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        scope: 'launch launch/patient openid patient/*.rs',
        redirect_uris: [OTHER_APP.redirectUri],
        launch_uri: OTHER_APP.launchUri,
      },
      {
        client_id: EHR.clientId,
        client_name: 'Hospital EHR',
        client_secret: EHR.secret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        scope: 'system/Patient.rs',
        creates_launches: true,
      },
      {
        client_id: NOT_EHR.clientId,
        client_secret: NOT_EHR.secret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        scope: 'system/Patient.rs',
      },
    ],
    ...(options.users === false
      ? {}
      : {
          users: [
            { username: PATIENT_USER.username, password_hash: aliceHash, fhir_user: 'Patient/pat-alice', patient: 'Patient/pat-alice', scope: 'patient/*.rs' },
            { username: PRACTITIONER.username, password_hash: bobHash, fhir_user: PRACTITIONER.fhirUser, scope: 'user/*.rs patient/*.rs' },
            { username: NARROW_PRACTITIONER.username, password_hash: noraHash, fhir_user: NARROW_PRACTITIONER.fhirUser, scope: 'user/Patient.rs?gender=female patient/*.rs' },
          ],
        }),
    ...(idp ? { identity_providers: [idp.gatewayEntry(options.idpEntry)] } : {}),
  };
  options.edit?.(raw);
  const gateway = await startGatewayProcess(t, { config: raw });
  let seen = upstream.received.length;
  return {
    gateway,
    base,
    upstream,
    ...(idp ? { idp } : {}),
    raw,
    takeReceived() {
      const out = upstream.received.slice(seen);
      seen = upstream.received.length;
      return out;
    },
    app: () =>
      oidc.discovery(new URL(base), APP.clientId, APP.secret, oidc.ClientSecretBasic(APP.secret), {
        algorithm: 'oauth2',
        execute: [oidc.allowInsecureRequests],
      }),
    browser: () => new PageBrowser(),
  };
}

/** The authorize URL of a code flow with PKCE: what the app sends the browser to. */
export async function authorizeRequest(
  config: oidc.Configuration,
  base: string,
  params: Record<string, string>,
): Promise<{ url: URL; verifier: string; state: string; nonce: string }> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: APP.redirectUri,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    aud: base,
    ...params,
  });
  return { url, verifier, state, nonce };
}

/** The app's half: the redirect it landed on, exchanged for tokens by openid-client. */
export function redeem(config: oidc.Configuration, landing: string, request: { verifier: string; state: string; nonce: string }) {
  return oidc.authorizationCodeGrant(config, new URL(landing), {
    pkceCodeVerifier: request.verifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
  });
}

// ---------------------------------------------------------------------------------------
// A browser over plain HTTP
// ---------------------------------------------------------------------------------------

export interface PageForm {
  /** The action URL. */
  action: string;
  /** Hidden inputs, and the named submit buttons (name -> values). */
  hidden: Record<string, string>;
  buttons: { name: string; value: string; label: string }[];
  /** The radio buttons' values, by name. */
  radios: Record<string, string[]>;
}

export interface Page {
  status: number;
  /** The Location of a redirect. */
  location?: string;
  html: string;
  headers: Headers;
  forms: PageForm[];
}

export class PageBrowser {
  readonly jar = new CookieJar();

  async open(url: string | URL): Promise<Page> {
    return this.request(String(url), { method: 'GET' });
  }

  /** Submits the page's form whose action ends with `actionPath`: its hidden fields, plus `fields`. */
  async submit(page: Page, actionPath: string, fields: Record<string, string> = {}): Promise<Page> {
    const form = formOf(page, actionPath);
    return this.post(form.action, { ...form.hidden, ...fields });
  }

  async post(url: string, fields: Record<string, string>): Promise<Page> {
    return this.request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  }

  /** The value of one of this browser's cookies. */
  cookie(name: string): string | undefined {
    const header = this.jar.header() ?? '';
    return header
      .split('; ')
      .find((pair) => pair.startsWith(`${name}=`))
      ?.slice(name.length + 1);
  }

  private async request(url: string, init: RequestInit): Promise<Page> {
    const cookie = this.jar.header();
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) } });
    this.jar.take(res);
    const html = await res.text();
    const location = res.headers.get('location');
    return { status: res.status, ...(location !== null ? { location } : {}), html, headers: res.headers, forms: parseForms(html) };
  }
}

export function formOf(page: Page, actionPath: string): PageForm {
  const form = page.forms.find((f) => new URL(f.action).pathname.endsWith(actionPath));
  if (!form) throw new Error(`no form posting to ${actionPath} on the page (status ${page.status}): ${page.html.slice(0, 600)}`);
  return form;
}

const unescape = (value: string) =>
  value.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&#96;/g, '`').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

function parseForms(html: string): PageForm[] {
  const forms: PageForm[] = [];
  for (const match of html.matchAll(/<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)) {
    const body = match[2]!;
    const hidden: Record<string, string> = {};
    for (const input of body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) hidden[input[1]!] = unescape(input[2]!);
    const buttons = [...body.matchAll(/<button\b[^>]*\bname="([^"]+)" value="([^"]*)"[^>]*>([\s\S]*?)<\/button>/g)].map((b) => ({ name: b[1]!, value: unescape(b[2]!), label: unescape(b[3]!) }));
    const radios: Record<string, string[]> = {};
    for (const radio of body.matchAll(/<input\b[^>]*\bname="([^"]+)" type="radio" value="([^"]*)"/g)) (radios[radio[1]!] ??= []).push(unescape(radio[2]!));
    forms.push({ action: unescape(match[1]!), hidden, buttons, radios });
  }
  return forms;
}

/** The plain text of a page (tags removed, entities decoded, whitespace collapsed), for assertions on what a person reads. */
export function textOf(html: string): string {
  return unescape(html.replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim();
}

/** POST /oauth/launch as an EHR: a form (default) or JSON body. */
export async function createLaunch(
  base: string,
  fields: Record<string, unknown>,
  options: { authorization?: string | null; json?: boolean } = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const authorization = options.authorization === undefined ? basic(EHR.clientId, EHR.secret) : options.authorization;
  const body = options.json ? JSON.stringify(fields) : new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString();
  const res = await fetch(`${base}/oauth/launch`, {
    method: 'POST',
    headers: { 'content-type': options.json ? 'application/json' : 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) },
    body,
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Bearer GET against the gateway's FHIR API. */
export async function fhirGet(base: string, token: string, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

/** The query of a redirect back to the app. */
export function appRedirect(location: string | undefined): URLSearchParams {
  if (location === undefined || !location.startsWith(APP.redirectUri)) throw new Error(`not a redirect to the app: ${location}`);
  return new URL(location).searchParams;
}
