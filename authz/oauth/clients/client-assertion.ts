import { decodeJwt, decodeProtectedHeader, errors, importJWK, jwtVerify, type JWK } from 'jose';
import type { Store } from '../../store.js';

/**
 * private_key_jwt client authentication: RFC 7523 §2.2 / §3 as profiled by SMART Backend
 * Services (asymmetric keys only, iss = sub = client_id, aud = token endpoint URL, short-lived,
 * single-use jti).
 */

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The two algorithms SMART Backend Services requires servers to support; nothing symmetric. */
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384'] as const;
type AssertionAlgorithm = (typeof ASSERTION_ALGORITHMS)[number];

/** SMART: exp "no more than five minutes in the future". */
const MAX_ASSERTION_LIFETIME_SECONDS = 5 * 60;
const DEFAULT_CLOCK_SKEW_SECONDS = 30;
const MAX_JTI_LENGTH = 256;

const JWKS_CACHE_TTL_SECONDS = 5 * 60;
const JWKS_CACHE_MAX_ENTRIES = 500;
/** An unknown kid may mean the client rotated keys, but must not let anyone make us hammer its jwks_uri. */
const JWKS_MIN_REFRESH_INTERVAL_SECONDS = 10;
const JWKS_FETCH_TIMEOUT_MS = 5000;
const JWKS_MAX_BYTES = 256 * 1024;

export interface JsonWebKeySet {
  keys: JWK[];
}

type FetchJwks = (uri: string) => Promise<JsonWebKeySet>;

export interface AssertionClient {
  client_id: string;
  jwks?: JsonWebKeySet;
  jwks_uri?: string;
}

type ClientAssertionResult = { ok: true } | { ok: false; description: string };

export interface VerifyClientAssertionParams {
  assertion: unknown;
  assertionType: unknown;
  /** The token endpoint URL, compared exactly with `aud`. */
  expectedAudience: string;
  client: AssertionClient;
  store: Store;
  /** Milliseconds since the epoch; defaults to Date.now. */
  now?: () => number;
  clockSkewSeconds?: number;
  /**
   * Keep one cache for the life of the process (createJwksCache at startup) so jwks_uri is not
   * fetched on every token request. Without one, keys are fetched with `fetchJwks` per call.
   */
  jwksCache?: JwksCache;
  fetchJwks?: FetchJwks;
}

class AssertionRejected extends Error {}

export async function verifyClientAssertion(params: VerifyClientAssertionParams): Promise<ClientAssertionResult> {
  try {
    await checkAssertion(params);
    return { ok: true };
  } catch (err) {
    if (err instanceof AssertionRejected) return { ok: false, description: err.message };
    throw err;
  }
}

/**
 * The client the assertion claims to come from (`sub`, else `iss`), read WITHOUT verifying it:
 * only for finding which registered client to verify it against, when the token request
 * carries no client_id (as in SMART Backend Services).
 */
export function peekAssertionClientId(assertion: unknown): string | undefined {
  if (typeof assertion !== 'string') return undefined;
  try {
    const claims = decodeJwt(assertion);
    const claimed = claims.sub ?? claims.iss;
    return typeof claimed === 'string' && claimed !== '' ? claimed : undefined;
  } catch {
    return undefined;
  }
}

async function checkAssertion(params: VerifyClientAssertionParams): Promise<void> {
  const { assertion } = params;
  const nowMs = (params.now ?? Date.now)();
  const skew = params.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;

  if (params.assertionType !== JWT_BEARER_ASSERTION_TYPE) {
    reject(`client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`);
  }
  if (typeof assertion !== 'string' || assertion === '') reject('client_assertion is required');
  const header = readSignedJwtHeader(assertion);

  const key = await findClientKey(params, header);
  await verifySignatureAndClaims(assertion, key, header.alg, params, nowMs, skew);
}

interface AssertionHeader {
  alg: AssertionAlgorithm;
  kid: string;
  jku?: string;
}

function readSignedJwtHeader(assertion: string): AssertionHeader {
  // Five segments would be a JWE, which decodeProtectedHeader also accepts.
  if (assertion.split('.').length !== 3) reject('client_assertion must be a signed JWT');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(assertion);
  } catch {
    reject('client_assertion must be a signed JWT');
  }
  const alg = header.alg;
  if (!isAssertionAlgorithm(alg)) {
    reject(`client_assertion must be signed with ${ASSERTION_ALGORITHMS.join(' or ')}`);
  }
  if (typeof header.kid !== 'string' || header.kid === '') reject('client_assertion header must name its key (kid)');
  if (header.jku !== undefined && typeof header.jku !== 'string') reject('client_assertion jku must be a URL');
  return { alg, kid: header.kid, jku: header.jku };
}

function isAssertionAlgorithm(alg: unknown): alg is AssertionAlgorithm {
  return (ASSERTION_ALGORITHMS as readonly unknown[]).includes(alg);
}

async function findClientKey(params: VerifyClientAssertionParams, header: AssertionHeader): Promise<JWK> {
  const { client } = params;
  // The header must never steer us to keys the client did not register.
  if (header.jku !== undefined && header.jku !== client.jwks_uri) {
    reject('client_assertion jku is not the jwks_uri registered for this client');
  }

  if (client.jwks) {
    return selectKey(client.jwks.keys, header) ?? reject('no key registered for this client matches the client_assertion kid and alg');
  }
  if (!client.jwks_uri) reject('this client has no registered keys');

  const cache = params.jwksCache ?? createJwksCache({ fetchJwks: params.fetchJwks, now: params.now });
  const cached = await loadJwks(cache, client.jwks_uri, false);
  const key = selectKey(cached.keys, header);
  if (key) return key;
  const refreshed = await loadJwks(cache, client.jwks_uri, true);
  return selectKey(refreshed.keys, header) ?? reject('no key at the client jwks_uri matches the client_assertion kid and alg');
}

async function loadJwks(cache: JwksCache, uri: string, refresh: boolean): Promise<JsonWebKeySet> {
  try {
    return await cache.get(uri, { refresh });
  } catch {
    reject('the client jwks_uri could not be fetched');
  }
}

function selectKey(keys: readonly JWK[], header: AssertionHeader): JWK | undefined {
  return keys.find((key) => key.kid === header.kid && keyFitsAlgorithm(key, header.alg));
}

function keyFitsAlgorithm(key: JWK, alg: AssertionAlgorithm): boolean {
  if (key.use !== undefined && key.use !== 'sig') return false;
  if (key.alg !== undefined && key.alg !== alg) return false;
  if (key.key_ops !== undefined && !key.key_ops.includes('verify')) return false;
  // A registered set holding private material is a misconfiguration we will not build on.
  if (key.d !== undefined) return false;
  return alg === 'RS384' ? key.kty === 'RSA' : key.kty === 'EC' && key.crv === 'P-384';
}

async function verifySignatureAndClaims(
  assertion: string,
  jwk: JWK,
  alg: AssertionAlgorithm,
  params: VerifyClientAssertionParams,
  nowMs: number,
  skew: number,
): Promise<void> {
  const { client } = params;
  let key: Awaited<ReturnType<typeof importJWK>>;
  try {
    key = await importJWK(jwk, alg);
  } catch {
    reject('the registered key for this client_assertion kid is not usable');
  }

  let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
  try {
    ({ payload } = await jwtVerify(assertion, key, {
      algorithms: [alg],
      issuer: client.client_id,
      subject: client.client_id,
      audience: params.expectedAudience,
      currentDate: new Date(nowMs),
      clockTolerance: skew,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
    }));
  } catch (err) {
    reject(describeJoseFailure(err));
  }

  const nowSeconds = Math.floor(nowMs / 1000);
  const exp = payload.exp!;
  if (exp - nowSeconds > MAX_ASSERTION_LIFETIME_SECONDS + skew) {
    reject('client_assertion exp must be at most 5 minutes in the future');
  }
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) {
    reject(`client_assertion jti must be a non-empty string of at most ${MAX_JTI_LENGTH} characters`);
  }
  // Checked last, so that only genuine, current assertions use up a jti.
  const ttl = Math.max(1, exp - nowSeconds + skew);
  const firstUse = await params.store.putOnce(`assertion-jti:${client.client_id}:${jti}`, '1', ttl);
  if (!firstUse) reject('client_assertion has already been used (jti replay)');
}

function describeJoseFailure(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'client_assertion has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss':
        return 'client_assertion iss must be the client_id';
      case 'sub':
        return 'client_assertion sub must be the client_id';
      case 'aud':
        return 'client_assertion aud must be the token endpoint URL';
      case 'nbf':
        return 'client_assertion is not valid yet (nbf)';
      default:
        return `client_assertion ${err.claim} claim is missing or invalid`;
    }
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'client_assertion signature is invalid';
  return 'client_assertion is not a valid JWT';
}

function reject(description: string): never {
  throw new AssertionRejected(description);
}

// ---------------------------------------------------------------------------------------------
// jwks_uri cache

export interface JwksCache {
  /** The key set at `uri`, from cache unless expired; `refresh` asks for a fresh copy (rate-limited). */
  get(uri: string, options?: { refresh?: boolean }): Promise<JsonWebKeySet>;
}

interface JwksCacheOptions {
  fetchJwks?: FetchJwks;
  /** Milliseconds since the epoch; defaults to Date.now. */
  now?: () => number;
  ttlSeconds?: number;
  maxEntries?: number;
  minRefreshIntervalSeconds?: number;
}

interface CacheEntry {
  fetchedAtMs: number;
  jwks: Promise<JsonWebKeySet>;
}

/** Bounded, per-URI, in-process cache of client key sets; concurrent misses share one fetch. */
export function createJwksCache(options: JwksCacheOptions = {}): JwksCache {
  const fetchJwks = options.fetchJwks ?? fetchJwksOverHttp;
  const now = options.now ?? Date.now;
  const ttlMs = (options.ttlSeconds ?? JWKS_CACHE_TTL_SECONDS) * 1000;
  const maxEntries = options.maxEntries ?? JWKS_CACHE_MAX_ENTRIES;
  const minRefreshMs = (options.minRefreshIntervalSeconds ?? JWKS_MIN_REFRESH_INTERVAL_SECONDS) * 1000;
  const entries = new Map<string, CacheEntry>();

  function fetchInto(uri: string): Promise<JsonWebKeySet> {
    const entry: CacheEntry = { fetchedAtMs: now(), jwks: fetchJwks(uri).then(parseJwks) };
    entries.delete(uri);
    if (entries.size >= maxEntries) {
      // Maps iterate in insertion order, so the first key is the oldest fetch.
      const oldest = entries.keys().next();
      if (!oldest.done) entries.delete(oldest.value);
    }
    entries.set(uri, entry);
    // A failed fetch must not be cached for five minutes.
    entry.jwks.catch(() => {
      if (entries.get(uri) === entry) entries.delete(uri);
    });
    return entry.jwks;
  }

  return {
    get(uri, { refresh = false } = {}) {
      const entry = entries.get(uri);
      if (!entry) return fetchInto(uri);
      const ageMs = now() - entry.fetchedAtMs;
      if (ageMs >= ttlMs || (refresh && ageMs >= minRefreshMs)) return fetchInto(uri);
      return entry.jwks;
    },
  };
}

/** Default fetcher: bounded in time and size, JSON only. */
async function fetchJwksOverHttp(uri: string): Promise<JsonWebKeySet> {
  const response = await fetch(uri, {
    headers: { accept: 'application/jwk-set+json, application/json' },
    signal: AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`jwks_uri answered HTTP ${response.status}`);
  const declaredLength = Number(response.headers.get('content-length') ?? '0');
  if (declaredLength > JWKS_MAX_BYTES) throw new Error('jwks_uri response is too large');
  const text = await response.text();
  if (text.length > JWKS_MAX_BYTES) throw new Error('jwks_uri response is too large');
  return parseJwks(JSON.parse(text));
}

function parseJwks(value: unknown): JsonWebKeySet {
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw new Error('jwks_uri did not return a JWK Set');
  }
  const keys = (value as { keys: unknown[] }).keys.filter(
    (key): key is JWK => typeof key === 'object' && key !== null && typeof (key as JWK).kty === 'string',
  );
  return { keys };
}
