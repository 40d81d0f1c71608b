import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * A real OpenID provider in the test process: panva's oidc-provider (OpenID-certified) over plain
 * http on a free 127.0.0.1 port, standing in for a hospital's Keycloak / Entra ID / Okta.
 *
 * - Its development interactions are on: a login form where any password signs in the account
 *   named in the login field (`signIn()` posts it over HTTP; a Chromium test can fill it in).
 *   Consent at the provider is pre-granted, as hospitals do for their own gateway.
 * - Accounts and their claims (`employee_id`, `groups`, `patient_id`, `email`, `name`...) are
 *   given per test and can change while it runs (`setAccount`). Claims of the granted scopes go
 *   into the ID token (conformIdTokenClaims: false), which is what the gateway maps.
 * - One client for the gateway: redirect URI `{gateway public_url}/oauth/callback/{provider id}`,
 *   client_secret_basic (or _post), or private_key_jwt with the JWKS the test gives.
 * - Failure modes: `stop()` / `restart()` (provider down and back), `hang()` (accepts connections
 *   and never answers, for timeouts), `replaceNextIdToken()` (the next token response carries an
 *   ID token the test made: forged, expired, foreign...), and `mintIdToken()` to make one.
 */

export type TestAccountClaims = Record<string, unknown>;

export type GatewayClientAuth =
  | { method: 'client_secret_basic' | 'client_secret_post' }
  | { method: 'private_key_jwt'; jwks: { keys: JWK[] } };

export interface TestOidcProviderOptions {
  /** The gateway's server.public_url, without a trailing slash. */
  gatewayPublicUrl: string;
  /** identity_providers[].id the gateway uses for this provider. Default: hospital-sso */
  providerId?: string;
  /** Default: fhir-gateway */
  clientId?: string;
  /** Default: client_secret_basic with a random secret. */
  clientAuth?: GatewayClientAuth;
  /** Account id (the login typed at the provider, and the `sub`) -> claims. */
  accounts?: Record<string, TestAccountClaims>;
  /** Which claims each scope releases. Default: profile -> name, employee_id, groups, patient_id, fhirUser; email -> email, email_verified. */
  scopeClaims?: Record<string, string[]>;
  /** Where the provider may send the browser after logout. Default: `{gatewayPublicUrl}/oauth/logged-out`. */
  postLogoutRedirectUris?: string[];
  /** ID token lifetime in seconds. Default: 3600 */
  idTokenTtl?: number;
  /** Offer RP-initiated logout (end_session_endpoint). Default: true */
  endSession?: boolean;
}

export type IdTokenSigner =
  /** The provider's own key: the token verifies; use it to test claim checks (iss, aud, exp, nonce). */
  | 'provider'
  /** Another RSA key announcing the provider key's `kid`: a forgery only a signature check catches. */
  | 'foreign'
  /** `alg: none`, no signature at all. */
  | 'none';

export interface IdTokenReplacement {
  /** The ID token the provider issued. */
  original: string;
  /** Its claims (iss, sub, aud, exp, iat, nonce, and the account's claims). */
  claims: JWTPayload & Record<string, unknown>;
}

export interface TestOidcProvider {
  readonly issuer: string;
  readonly port: number;
  readonly providerId: string;
  readonly clientId: string;
  /** The gateway's client secret at the provider (unused with private_key_jwt). */
  readonly clientSecret: string;
  /** `{gatewayPublicUrl}/oauth/callback/{providerId}`, as registered. */
  readonly redirectUri: string;
  readonly postLogoutRedirectUris: readonly string[];
  /** Every request the provider received, in order: to count discovery, token and JWKS calls. */
  readonly requests: { method: string; path: string }[];
  /** The raw identity_providers[] entry pointing at this provider; `overrides` replace keys. */
  gatewayEntry(overrides?: Record<string, unknown>): Record<string, unknown>;
  setAccount(accountId: string, claims: TestAccountClaims): void;
  /**
   * What a browser does at the provider: open the authorization URL, sign in as `accountId` on
   * the login form, and stop at the redirect back to the gateway. Returns that URL (with `code`,
   * `state`, `iss`). Each call is a fresh browser unless `cookies` carries one from an earlier call.
   */
  signIn(authorizationUrl: string | URL, accountId: string, cookies?: CookieJar): Promise<URL>;
  /** Open the authorization URL and press the login page's abort link: the redirect back carries error=access_denied. */
  cancel(authorizationUrl: string | URL): Promise<URL>;
  /** An ID token with exactly these claims, signed as `signer` says. */
  mintIdToken(claims: JWTPayload & Record<string, unknown>, signer?: IdTokenSigner): Promise<string>;
  /** The next successful token response carries what `replace` returns instead of the real ID token (once). */
  replaceNextIdToken(replace: (issued: IdTokenReplacement) => Promise<string> | string): void;
  /** Provider down: close the port and every open connection. */
  stop(): Promise<void>;
  /** Provider back, on the same port, with the same keys, accounts and client. */
  restart(): Promise<void>;
  /** From now on accept connections and never answer (until `unhang()`). */
  hang(): void;
  unhang(): void;
}

interface TeardownRegistry {
  teardown(fn: () => unknown): void;
}

const DEFAULT_SCOPE_CLAIMS: Record<string, string[]> = {
  profile: ['name', 'employee_id', 'groups', 'patient_id', 'fhirUser'],
  email: ['email', 'email_verified'],
};
const PROVIDER_KID = 'test-idp-rs256';

/** A provider that is stopped when the test ends. */
export async function startTestOidcProvider(t: TeardownRegistry, options: TestOidcProviderOptions): Promise<TestOidcProvider> {
  const keys = await makeKeys();
  const accounts = new Map(Object.entries(options.accounts ?? {}));
  const providerId = options.providerId ?? 'hospital-sso';
  const clientId = options.clientId ?? 'fhir-gateway';
  const clientSecret = randomBytes(24).toString('base64url');
  const clientAuth = options.clientAuth ?? { method: 'client_secret_basic' };
  const redirectUri = `${options.gatewayPublicUrl}/oauth/callback/${providerId}`;
  const postLogoutRedirectUris = options.postLogoutRedirectUris ?? [`${options.gatewayPublicUrl}/oauth/logged-out`];
  const requests: { method: string; path: string }[] = [];

  let hanging = false;
  let replaceIdToken: ((issued: IdTokenReplacement) => Promise<string> | string) | undefined;
  let handler: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0]! });
    if (hanging) return; // never answered; stop() destroys the socket
    handler(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await listen(server, 0);
  const port = (server.address() as { port: number }).port;
  const issuer = `http://127.0.0.1:${port}`;

  const scopeClaims = options.scopeClaims ?? DEFAULT_SCOPE_CLAIMS;
  const oidcScopes = new Set(['openid', ...Object.keys(scopeClaims)]);
  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        ...(clientAuth.method === 'private_key_jwt' ? { jwks: clientAuth.jwks } : { client_secret: clientSecret }),
        token_endpoint_auth_method: clientAuth.method,
        redirect_uris: [redirectUri],
        ...(options.endSession === false ? {} : { post_logout_redirect_uris: postLogoutRedirectUris }),
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [keys.providerPrivateJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], ...scopeClaims },
    conformIdTokenClaims: false,
    // Every lifetime set, so the provider does not print a notice for each default it applies.
    ttl: { IdToken: options.idTokenTtl ?? 3600, AccessToken: 3600, AuthorizationCode: 60, Interaction: 600, Grant: 3600, Session: 3600 },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: options.endSession ?? true } },
    async findAccount(_ctx, accountId) {
      const claims = accounts.get(accountId);
      if (claims === undefined) return undefined;
      return { accountId, claims: async () => ({ ...claims, sub: accountId }) };
    },
    // Pre-granted consent: a hospital's SSO does not ask staff to approve the hospital's gateway.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const { oidc } = ctx;
      const grantId = oidc.result?.['consent']?.grantId ?? oidc.session!.grantIdFor(oidc.client!.clientId);
      const grant = grantId ? await oidc.provider.Grant.find(grantId) : new oidc.provider.Grant({ clientId: oidc.client!.clientId, accountId: oidc.session!.accountId! });
      if (!grant) return undefined;
      grant.addOIDCScope([...oidc.requestParamScopes].filter((scope) => oidcScopes.has(scope)).join(' '));
      await grant.save();
      return grant;
    },
  };
  const provider = new Provider(issuer, configuration);
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token' || ctx.status !== 200 || replaceIdToken === undefined) return;
    const body = ctx.body as Record<string, unknown>;
    if (typeof body['id_token'] !== 'string') return;
    const replace = replaceIdToken;
    replaceIdToken = undefined;
    const original = body['id_token'];
    ctx.body = { ...body, id_token: await replace({ original, claims: decodeJwt(original) as IdTokenReplacement['claims'] }) };
  });
  handler = provider.callback();

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  t.teardown(stop);

  const mintIdToken = async (claims: JWTPayload & Record<string, unknown>, signer: IdTokenSigner = 'provider'): Promise<string> => {
    if (signer === 'none') {
      const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`;
    }
    const key = signer === 'provider' ? keys.providerPrivateKey : keys.foreignPrivateKey;
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: PROVIDER_KID, typ: 'JWT' }).sign(key);
  };

  return {
    issuer,
    port,
    providerId,
    clientId,
    clientSecret,
    redirectUri,
    postLogoutRedirectUris,
    requests,
    gatewayEntry(overrides = {}) {
      return {
        id: providerId,
        name: 'Hospital SSO',
        issuer,
        allow_http: true,
        client_id: clientId,
        ...(clientAuth.method === 'private_key_jwt'
          ? { token_endpoint_auth_method: 'private_key_jwt' }
          : { token_endpoint_auth_method: clientAuth.method, client_secret: clientSecret }),
        scope: 'openid profile email',
        fhir_user: 'Practitioner/{employee_id}',
        resource_scope: 'user/*.rs',
        ...overrides,
      };
    },
    setAccount(accountId, claims) {
      accounts.set(accountId, claims);
    },
    async signIn(authorizationUrl, accountId, cookies = new CookieJar()) {
      return driveInteractions(issuer, redirectUri, authorizationUrl, cookies, async (interactionUrl, html) => {
        const action = formAction(html, interactionUrl);
        const prompt = /name="prompt" value="([a-z]+)"/.exec(html)?.[1];
        if (prompt === 'login') return postForm(action, { prompt: 'login', login: accountId, password: 'any password' }, cookies);
        if (prompt === 'consent') return postForm(action, { prompt: 'consent' }, cookies);
        throw new Error(`unexpected interaction page at ${interactionUrl}: ${html.slice(0, 300)}`);
      });
    },
    async cancel(authorizationUrl) {
      const cookies = new CookieJar();
      return driveInteractions(issuer, redirectUri, authorizationUrl, cookies, async (interactionUrl) => get(`${interactionUrl}/abort`, cookies));
    },
    mintIdToken,
    replaceNextIdToken(replace) {
      replaceIdToken = replace;
    },
    stop,
    async restart() {
      if (!stopped) await stop();
      await listen(server, port);
      stopped = false;
    },
    hang() {
      hanging = true;
    },
    unhang() {
      hanging = false;
    },
  };
}

/** Signs the gateway's client assertions in private_key_jwt tests: a private JWK file and the public JWKS to register. */
export async function makeClientKey(kid = 'gateway-client-key'): Promise<{ privateJwk: JWK; publicJwks: { keys: JWK[] } }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return { privateJwk, publicJwks: { keys: [publicJwk] } };
}

async function makeKeys() {
  const provider = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const foreign = await generateKeyPair('RS256', { modulusLength: 2048 });
  const providerPrivateJwk = { ...(await exportJWK(provider.privateKey)), kid: PROVIDER_KID, alg: 'RS256', use: 'sig' };
  return { providerPrivateJwk, providerPrivateKey: provider.privateKey, foreignPrivateKey: foreign.privateKey };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

// ---------------------------------------------------------------------------------------
// A browser, as far as the provider's pages need one
// ---------------------------------------------------------------------------------------

/** Cookies by name (the provider's cookies are all on one host; paths do not matter here). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]!) < Date.now()));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
  }
}

async function get(url: string, cookies: CookieJar): Promise<Response> {
  const res = await fetch(url, { redirect: 'manual', headers: { cookie: cookies.header() } });
  cookies.take(res);
  return res;
}

async function postForm(url: string, fields: Record<string, string>, cookies: CookieJar): Promise<Response> {
  const res = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookies.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  cookies.take(res);
  return res;
}

function formAction(html: string, pageUrl: string): string {
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error(`no form on ${pageUrl}`);
  return new URL(action.replace(/&amp;/g, '&'), pageUrl).href;
}

/**
 * Follows the provider's redirects; on each interaction page lets `act` answer it, until the
 * provider redirects to the gateway's callback, whose URL is returned (never fetched).
 */
async function driveInteractions(
  issuer: string,
  redirectUri: string,
  start: string | URL,
  cookies: CookieJar,
  act: (interactionUrl: string, html: string) => Promise<Response>,
): Promise<URL> {
  let res = await get(String(start), cookies);
  for (let step = 0; step < 12; step++) {
    if (res.status >= 300 && res.status < 400) {
      const location = new URL(res.headers.get('location')!, issuer);
      if (location.href.startsWith(`${redirectUri}?`) || location.href === redirectUri) return location;
      if (location.origin !== new URL(issuer).origin) throw new Error(`the provider redirected elsewhere: ${location.href}`);
      res = await get(location.href, cookies);
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`the provider answered ${res.status}: ${html.slice(0, 500)}`);
    const interactionUrl = /action="([^"]*\/interaction\/[^"/]+)/.exec(html)?.[1];
    if (!interactionUrl) throw new Error(`no interaction form in: ${html.slice(0, 500)}`);
    res = await act(new URL(interactionUrl, issuer).href, html);
  }
  throw new Error('the provider kept redirecting');
}
