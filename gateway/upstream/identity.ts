/**
 * Who the user is, for the upstream (`upstream.identity`), from the claims of the access token
 * the gateway has verified:
 *
 * - identity headers (`headers: true`): client id, user (`sub`), fhirUser, patient, scope, under
 *   configurable names; a claim the token lacks is a header that is absent, never empty;
 * - an identity assertion (`assertion: true`): a JWT signed with the gateway's own key ring
 *   (verifiable with its JWKS), aud = the upstream URL, valid for a minute at most; the requests
 *   of one access token share it while it has at least half of that left (signing costs far
 *   more than the rest of a proxied request);
 * - the client's own token as Authorization (`forward_token: true`);
 * - and, always, the strip step: every client-sent header that looks like one of these (the
 *   default names, the configured ones, the assertion header, the credential header), in any
 *   case and with `_` for `-`, is removed before anything is added, so a spoofed identity never
 *   reaches the upstream, whatever is configured, identity off included.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { UpstreamConfig, UpstreamIdentityConfig, UpstreamIdentityHeaderNames } from '../../config/types.js';
import { DEFAULT_ASSERTION_HEADER, DEFAULT_IDENTITY_HEADER_NAMES, normalizeHeaderName } from '../../config/upstream-schema.js';
import { SIGNING_ALG, type KeyRing } from '../../authz/tokens/signing-keys.js';

/** The verified access-token claims identity is built from (a subset of authz/access-token.ts AccessTokenClaims). */
export interface IdentityClaims {
  sub: string;
  client_id: string;
  scope: string;
  /** SMART launch context: the bare Patient id. */
  patient?: string;
  /** SMART fhirUser: a reference such as Practitioner/123. */
  fhirUser?: string;
  /** The access token's expiry (seconds): the assertion never outlives it. */
  exp?: number;
}

/** RFC 8725 §3.11 explicit typing: an assertion cannot pass for an access token (at+jwt) or an ID token. */
export const IDENTITY_ASSERTION_TYP = 'identity+jwt';
export const IDENTITY_ASSERTION_LIFETIME_SECONDS = 60;

export interface IdentitySettings {
  headers: boolean;
  names: Readonly<UpstreamIdentityHeaderNames>;
  omit: ReadonlySet<keyof UpstreamIdentityHeaderNames>;
  assertion: boolean;
  assertionHeader: string;
  forwardToken: boolean;
}

/** `upstream.identity` with its defaults; absent = nothing is sent. */
export function identitySettings(config: UpstreamIdentityConfig | undefined): IdentitySettings {
  return {
    headers: config?.headers ?? false,
    names: config?.header_names ?? DEFAULT_IDENTITY_HEADER_NAMES,
    omit: new Set(config?.omit_headers ?? []),
    assertion: config?.assertion ?? false,
    assertionHeader: config?.assertion_header ?? DEFAULT_ASSERTION_HEADER,
    forwardToken: config?.forward_token ?? false,
  };
}

// ---------------------------------------------------------------------------------------
// Identity headers
// ---------------------------------------------------------------------------------------

const CLAIM_OF: Readonly<Record<keyof UpstreamIdentityHeaderNames, (claims: IdentityClaims) => string | undefined>> = {
  client_id: (claims) => claims.client_id,
  user: (claims) => claims.sub,
  fhir_user: (claims) => claims.fhirUser,
  patient: (claims) => claims.patient,
  scope: (claims) => claims.scope,
};

/**
 * A header value that says exactly the claim: printable ASCII goes as it is; anything else
 * (a non-ASCII user name) is percent-encoded UTF-8, since HTTP field values cannot carry it.
 */
export function headerValue(claim: string): string {
  return /^[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?$/.test(claim) ? claim : encodeURIComponent(claim);
}

/** The identity headers (lower-case names) for `claims`: one per claim present and non-empty, except those in `omit`. */
export function identityHeaders(
  claims: IdentityClaims,
  names: Readonly<UpstreamIdentityHeaderNames>,
  omit: ReadonlySet<keyof UpstreamIdentityHeaderNames> = new Set(),
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const key of Object.keys(CLAIM_OF) as (keyof UpstreamIdentityHeaderNames)[]) {
    if (omit.has(key)) continue;
    const value = CLAIM_OF[key](claims);
    if (value !== undefined && value !== '') headers[names[key].toLowerCase()] = headerValue(value);
  }
  return headers;
}

// ---------------------------------------------------------------------------------------
// Identity assertion
// ---------------------------------------------------------------------------------------

export interface AssertionOptions {
  /** The gateway's issuer (server.public_url): the same `iss` as its access tokens, so the same JWKS. */
  issuer: string;
  /** The upstream's base URL. */
  audience: string;
  /** Seconds since the epoch. */
  now?: number;
}

/** An assertion made at `now` expires a minute later, or with the access token if that is sooner. */
function assertionExpiry(claims: IdentityClaims, now: number): number {
  return Math.min(now + IDENTITY_ASSERTION_LIFETIME_SECONDS, claims.exp ?? Number.POSITIVE_INFINITY);
}

export async function identityAssertion(claims: IdentityClaims, keys: KeyRing, options: AssertionOptions): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const exp = assertionExpiry(claims, now);
  return new SignJWT({
    client_id: claims.client_id,
    scope: claims.scope,
    ...(claims.fhirUser !== undefined ? { fhirUser: claims.fhirUser } : {}),
    ...(claims.patient !== undefined ? { patient: claims.patient } : {}),
  })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: keys.signing.kid, typ: IDENTITY_ASSERTION_TYP })
    .setIssuer(options.issuer)
    .setSubject(claims.sub)
    .setAudience(options.audience)
    .setIssuedAt(now)
    .setExpirationTime(exp)
    .setJti(randomUUID())
    .sign(keys.signing.privateKey);
}

// ---------------------------------------------------------------------------------------
// Strip step
// ---------------------------------------------------------------------------------------

/**
 * Every header name a client must never get through to the upstream under this config: the
 * default identity names, the configured ones, the default and configured assertion header, and
 * the credential header of `auth.type: header` (the gateway sets it; a variant such as
 * `X_Api_Key` from the client could otherwise be read as it by the upstream).
 */
export function protectedHeaderNames(upstream: Pick<UpstreamConfig, 'identity' | 'auth'>): string[] {
  const configured = upstream.identity;
  return [
    ...Object.values(DEFAULT_IDENTITY_HEADER_NAMES),
    DEFAULT_ASSERTION_HEADER,
    ...(configured !== undefined ? [...Object.values(configured.header_names), configured.assertion_header] : []),
    ...(upstream.auth?.type === 'header' ? [upstream.auth.header.name] : []),
  ];
}

/**
 * Removes (in place) each header whose name reads as one of `names` (normalized names). It runs
 * on every request to the upstream, so it allocates nothing when there is nothing to remove
 * (node's header names are lower-case already: normalizing them changes nothing).
 */
export function stripHeaders(headers: Record<string, unknown>, names: ReadonlySet<string>): void {
  for (const name in headers) {
    if (names.has(name) || names.has(normalizeHeaderName(name))) delete headers[name];
  }
}

// ---------------------------------------------------------------------------------------
// Assembled
// ---------------------------------------------------------------------------------------

export interface UpstreamIdentity {
  readonly settings: IdentitySettings;
  /** False when headersFor would add nothing (identity off): callers skip it, and its await. */
  readonly addsHeaders: boolean;
  /**
   * Step one for every request towards the upstream, proxied or not: removes client-sent
   * headers with a protected name (the object is changed in place).
   */
  strip(headers: Record<string, unknown>): void;
  /** Step two for a request made on behalf of a verified token: the headers to add (lower-case names). */
  headersFor(claims: IdentityClaims, accessToken: string): Promise<Record<string, string>>;
}

export interface UpstreamIdentityOptions {
  upstream: Pick<UpstreamConfig, 'url' | 'identity' | 'auth'>;
  /** server.public_url. */
  issuer: string;
  /** The current key ring (it changes on rotation and reload). */
  keys: () => KeyRing;
  /** Seconds since the epoch (tests move it). */
  now?: () => number;
}

/** An assertion is handed out again while it has at least this many seconds left. */
export const ASSERTION_REUSE_MARGIN_SECONDS = IDENTITY_ASSERTION_LIFETIME_SECONDS / 2;
/** Access tokens whose assertion is kept; beyond it the oldest is forgotten (and signed anew if needed). */
const ASSERTION_CACHE_ENTRIES = 4096;

/**
 * The assertion of each recent access token, while it has at least ASSERTION_REUSE_MARGIN_SECONDS
 * left: an upstream never gets one about to expire. Concurrent requests of one token share one
 * signing. Bounded, oldest first out.
 */
export class AssertionCache {
  private readonly entries = new Map<string, { assertion: Promise<string>; reuseUntil: number }>();

  constructor(private readonly maxEntries = ASSERTION_CACHE_ENTRIES) {}

  get(accessToken: string, now: number, sign: () => Promise<{ assertion: string; exp: number }>): Promise<string> {
    const cached = this.entries.get(accessToken);
    if (cached !== undefined && now <= cached.reuseUntil) return cached.assertion;
    if (cached !== undefined) this.entries.delete(accessToken);
    const signing = sign();
    // Reused only once its expiry is known; until then, concurrent callers share the signing itself.
    const entry = { assertion: signing.then((signed) => signed.assertion), reuseUntil: Number.POSITIVE_INFINITY };
    signing.then(
      (signed) => {
        entry.reuseUntil = signed.exp - ASSERTION_REUSE_MARGIN_SECONDS;
      },
      () => {
        if (this.entries.get(accessToken) === entry) this.entries.delete(accessToken);
      },
    );
    this.entries.set(accessToken, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return entry.assertion;
  }
}

export function createUpstreamIdentity(options: UpstreamIdentityOptions): UpstreamIdentity {
  const settings = identitySettings(options.upstream.identity);
  const protectedNames = new Set(protectedHeaderNames(options.upstream).map(normalizeHeaderName));
  const assertionHeader = settings.assertionHeader.toLowerCase();
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const assertions = new AssertionCache();
  const assertionFor = (claims: IdentityClaims, accessToken: string): Promise<string> =>
    assertions.get(accessToken, now(), async () => {
      const at = now();
      const assertion = await identityAssertion(claims, options.keys(), { issuer: options.issuer, audience: options.upstream.url, now: at });
      return { assertion, exp: assertionExpiry(claims, at) };
    });
  return {
    settings,
    addsHeaders: settings.headers || settings.assertion || settings.forwardToken,
    strip: (headers) => stripHeaders(headers, protectedNames),
    async headersFor(claims, accessToken) {
      return {
        ...(settings.headers ? identityHeaders(claims, settings.names, settings.omit) : {}),
        ...(settings.assertion ? { [assertionHeader]: await assertionFor(claims, accessToken) } : {}),
        ...(settings.forwardToken ? { authorization: `Bearer ${accessToken}` } : {}),
      };
    },
  };
}
