import t from 'tap';
import { randomUUID } from 'node:crypto';
import { base64url, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import {
  createJwksCache,
  JWT_BEARER_ASSERTION_TYPE,
  peekAssertionClientId,
  verifyClientAssertion,
  type AssertionClient,
  type JsonWebKeySet,
  type VerifyClientAssertionParams,
} from '../../../authz/oauth/clients/client-assertion.js';
import type { Store } from '../../../authz/store.js';

const TOKEN_URL = 'https://gateway.example.org/oauth/token';
const CLIENT_ID = 'backend-app';
const JWKS_URI = 'https://backend-app.example.org/.well-known/jwks.json';
const NOW_MS = Date.UTC(2030, 0, 1, 12, 0, 0);
const NOW = Math.floor(NOW_MS / 1000);

/** Only putOnce matters to the code under test; the rest fail loudly if ever touched. */
class PutOnceStore implements Store {
  readonly kind = 'memory' as const;
  readonly availability = 'up' as const;
  readonly puts: { key: string; ttlSeconds: number }[] = [];
  private readonly keys = new Set<string>();

  async putOnce(key: string, _value: string, ttlSeconds: number): Promise<boolean> {
    this.puts.push({ key, ttlSeconds });
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    return true;
  }

  private unused(): never {
    throw new Error('not used by client assertion verification');
  }
  connect = async () => this.unused();
  close = async () => this.unused();
  ping = async () => this.unused();
  takeOnce = async () => this.unused();
  revoke = async () => this.unused();
  isRevoked = async () => this.unused();
  increment = async () => this.unused();
  getCounter = async () => this.unused();
  resetCounter = async () => this.unused();
  get = async () => this.unused();
  set = async () => this.unused();
  setIfAbsent = async () => this.unused();
  delete = async () => this.unused();
  rateLimit = async () => this.unused();
  checkToken = async () => this.unused();
  queueAppend = async () => this.unused();
  queueClaim = async () => this.unused();
  queueAck = async () => this.unused();
  queueRelease = async () => this.unused();
  queueLength = async () => this.unused();
}

interface TestKey {
  alg: 'RS384' | 'ES384';
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function makeKey(alg: 'RS384' | 'ES384', kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicJwk };
}

const rsaKey = await makeKey('RS384', 'rsa-1');
const ecKey = await makeKey('ES384', 'ec-1');
const otherKey = await makeKey('ES384', 'not-registered');

interface AssertionOverrides {
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
  key?: TestKey;
}

async function makeAssertion({ claims = {}, header = {}, key = rsaKey }: AssertionOverrides = {}): Promise<string> {
  const payload = { iss: CLIENT_ID, sub: CLIENT_ID, aud: TOKEN_URL, exp: NOW + 240, jti: randomUUID(), ...claims };
  for (const [name, value] of Object.entries(payload)) {
    if (value === undefined) delete (payload as Record<string, unknown>)[name];
  }
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header } as { alg: string })
    .sign(key.privateKey);
}

function inlineClient(...keys: TestKey[]): AssertionClient {
  return { client_id: CLIENT_ID, jwks: { keys: keys.map((k) => k.publicJwk) } };
}

function params(assertion: string, overrides: Partial<VerifyClientAssertionParams> = {}): VerifyClientAssertionParams {
  return {
    assertion,
    assertionType: JWT_BEARER_ASSERTION_TYPE,
    expectedAudience: TOKEN_URL,
    client: inlineClient(rsaKey, ecKey),
    store: new PutOnceStore(),
    now: () => NOW_MS,
    clockSkewSeconds: 30,
    ...overrides,
  };
}

function unsignedJwt(header: Record<string, unknown>, claims: Record<string, unknown>, signature = ''): string {
  const encode = (value: object) => base64url.encode(JSON.stringify(value));
  return `${encode(header)}.${encode(claims)}.${signature}`;
}

t.test('accepts valid RS384 and ES384 assertions', async (t) => {
  for (const key of [rsaKey, ecKey]) {
    const store = new PutOnceStore();
    const jti = `jti-${key.alg}`;
    const result = await verifyClientAssertion(params(await makeAssertion({ key, claims: { jti } }), { store }));
    t.same(result, { ok: true }, key.alg);
    t.same(store.puts, [{ key: `assertion-jti:${CLIENT_ID}:${jti}`, ttlSeconds: 240 + 30 }], 'jti kept until exp + skew');
  }
});

t.test('accepts aud given as an array holding the token URL', async (t) => {
  const assertion = await makeAssertion({ claims: { aud: [TOKEN_URL] } });
  t.same(await verifyClientAssertion(params(assertion)), { ok: true });
});

t.test('refuses a wrong client_assertion_type', async (t) => {
  const assertion = await makeAssertion();
  for (const assertionType of [undefined, '', 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer']) {
    t.same(await verifyClientAssertion(params(assertion, { assertionType })), {
      ok: false,
      description: `client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`,
    });
  }
});

t.test('refuses a missing or malformed assertion', async (t) => {
  t.match(await verifyClientAssertion(params(undefined as unknown as string)), { ok: false, description: 'client_assertion is required' });
  t.match(await verifyClientAssertion(params('not-a-jwt')), { ok: false, description: /signed JWT/ });
  t.match(await verifyClientAssertion(params('a.b.c.d.e')), { ok: false, description: /signed JWT/ });
});

t.test('refuses a wrong audience', async (t) => {
  for (const aud of ['https://gateway.example.org', 'https://gateway.example.org/oauth/token/', 'https://evil.example/oauth/token']) {
    const assertion = await makeAssertion({ claims: { aud } });
    t.same(await verifyClientAssertion(params(assertion)), { ok: false, description: 'client_assertion aud must be the token endpoint URL' }, aud);
  }
});

t.test('refuses an expired assertion, within and beyond the clock skew', async (t) => {
  const expired = await makeAssertion({ claims: { exp: NOW - 31 } });
  t.same(await verifyClientAssertion(params(expired)), { ok: false, description: 'client_assertion has expired' });
  const justWithinSkew = await makeAssertion({ claims: { exp: NOW - 10 } });
  t.same(await verifyClientAssertion(params(justWithinSkew)), { ok: true }, 'skew tolerated');
});

t.test('refuses exp more than five minutes ahead', async (t) => {
  const tooLong = await makeAssertion({ claims: { exp: NOW + 300 + 31 } });
  t.same(await verifyClientAssertion(params(tooLong)), { ok: false, description: 'client_assertion exp must be at most 5 minutes in the future' });
  const fiveMinutes = await makeAssertion({ claims: { exp: NOW + 300 } });
  t.same(await verifyClientAssertion(params(fiveMinutes)), { ok: true });
});

t.test('refuses missing exp or jti', async (t) => {
  const noExp = await makeAssertion({ claims: { exp: undefined } });
  t.match(await verifyClientAssertion(params(noExp)), { ok: false, description: /exp/ });
  const noJti = await makeAssertion({ claims: { jti: undefined } });
  t.match(await verifyClientAssertion(params(noJti)), { ok: false, description: /jti/ });
  const numericJti = await makeAssertion({ claims: { jti: 12345 } });
  t.match(await verifyClientAssertion(params(numericJti)), { ok: false, description: /jti must be a non-empty string/ });
});

t.test('refuses a reused jti, and only a verified assertion uses a jti up', async (t) => {
  const store = new PutOnceStore();
  const assertion = await makeAssertion({ claims: { jti: 'once' } });
  const forged = await makeAssertion({ claims: { jti: 'once' }, key: { ...otherKey, kid: ecKey.kid } });
  t.same(await verifyClientAssertion(params(forged, { store })), { ok: false, description: 'client_assertion signature is invalid' });
  t.same(store.puts, [], 'forged assertion did not consume the jti');

  t.same(await verifyClientAssertion(params(assertion, { store })), { ok: true });
  t.same(await verifyClientAssertion(params(assertion, { store })), { ok: false, description: 'client_assertion has already been used (jti replay)' });
  const sameJtiNewToken = await makeAssertion({ claims: { jti: 'once' }, key: ecKey });
  t.same(await verifyClientAssertion(params(sameJtiNewToken, { store })), { ok: false, description: 'client_assertion has already been used (jti replay)' });
});

t.test('refuses iss or sub other than the client_id', async (t) => {
  const issDiffers = await makeAssertion({ claims: { iss: 'someone-else' } });
  t.same(await verifyClientAssertion(params(issDiffers)), { ok: false, description: 'client_assertion iss must be the client_id' });
  const subDiffers = await makeAssertion({ claims: { sub: 'someone-else' } });
  t.same(await verifyClientAssertion(params(subDiffers)), { ok: false, description: 'client_assertion sub must be the client_id' });
});

t.test('refuses an unknown key, a missing kid, and a key of the wrong type', async (t) => {
  const unknown = await makeAssertion({ key: otherKey });
  t.same(await verifyClientAssertion(params(unknown)), { ok: false, description: 'no key registered for this client matches the client_assertion kid and alg' });

  const noKid = await makeAssertion({ header: { kid: undefined } });
  t.same(await verifyClientAssertion(params(noKid)), { ok: false, description: 'client_assertion header must name its key (kid)' });

  // The RSA key's kid, but an EC signature: must not be checked against the RSA key.
  const mismatched = await makeAssertion({ key: { ...ecKey, kid: rsaKey.kid } });
  t.match(await verifyClientAssertion(params(mismatched)), { ok: false, description: /matches the client_assertion kid and alg/ });

  const forgedSignature = await makeAssertion({ key: { ...otherKey, kid: ecKey.kid } });
  t.same(await verifyClientAssertion(params(forgedSignature)), { ok: false, description: 'client_assertion signature is invalid' });

  const noKeys = await makeAssertion();
  t.same(await verifyClientAssertion(params(noKeys, { client: { client_id: CLIENT_ID } })), { ok: false, description: 'this client has no registered keys' });
});

t.test('refuses alg none', async (t) => {
  const header = { alg: 'none', kid: rsaKey.kid, typ: 'JWT' };
  const claims = { iss: CLIENT_ID, sub: CLIENT_ID, aud: TOKEN_URL, exp: NOW + 60, jti: 'none-1' };
  const store = new PutOnceStore();
  t.same(await verifyClientAssertion(params(unsignedJwt(header, claims), { store })), {
    ok: false,
    description: 'client_assertion must be signed with RS384 or ES384',
  });
  t.same(store.puts, []);
});

t.test('refuses HS256 signed with the public key as the secret', async (t) => {
  const claims = { iss: CLIENT_ID, sub: CLIENT_ID, aud: TOKEN_URL, exp: NOW + 60, jti: 'hs-1' };
  for (const secretText of [JSON.stringify(rsaKey.publicJwk), rsaKey.publicJwk.n!]) {
    const secret = new TextEncoder().encode(secretText);
    const assertion = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: rsaKey.kid }).sign(secret);
    t.same(await verifyClientAssertion(params(assertion)), { ok: false, description: 'client_assertion must be signed with RS384 or ES384' });
  }
});

t.test('refuses RS256 even with a registered RSA key', async (t) => {
  const { privateKey } = await generateKeyPair('RS256');
  const assertion = await new SignJWT({ iss: CLIENT_ID, sub: CLIENT_ID, aud: TOKEN_URL, exp: NOW + 60, jti: 'rs256' })
    .setProtectedHeader({ alg: 'RS256', kid: rsaKey.kid })
    .sign(privateKey);
  t.match(await verifyClientAssertion(params(assertion)), { ok: false, description: /RS384 or ES384/ });
});

t.test('jku must equal the registered jwks_uri', async (t) => {
  const fetched: string[] = [];
  const fetchJwks = async (uri: string): Promise<JsonWebKeySet> => {
    fetched.push(uri);
    return { keys: [rsaKey.publicJwk, otherKey.publicJwk] };
  };
  const client = { client_id: CLIENT_ID, jwks_uri: JWKS_URI };

  const foreign = await makeAssertion({ header: { jku: 'https://evil.example/jwks.json' }, key: otherKey });
  t.same(await verifyClientAssertion(params(foreign, { client, fetchJwks })), {
    ok: false,
    description: 'client_assertion jku is not the jwks_uri registered for this client',
  });
  t.same(fetched, [], 'the foreign jku was never fetched');

  const inlineWithJku = await makeAssertion({ header: { jku: JWKS_URI } });
  t.match(await verifyClientAssertion(params(inlineWithJku)), { ok: false, description: /jku/ }, 'client with inline keys has no jku');

  const matching = await makeAssertion({ header: { jku: JWKS_URI } });
  t.same(await verifyClientAssertion(params(matching, { client, fetchJwks })), { ok: true });
  t.same(fetched, [JWKS_URI]);
});

t.test('jwks_uri keys are cached and re-fetched once for an unknown kid', async (t) => {
  let clock = NOW_MS;
  let published: JWK[] = [rsaKey.publicJwk];
  let fetches = 0;
  const jwksCache = createJwksCache({
    now: () => clock,
    fetchJwks: async (uri) => {
      t.equal(uri, JWKS_URI);
      fetches++;
      return { keys: published };
    },
  });
  const client = { client_id: CLIENT_ID, jwks_uri: JWKS_URI };
  const verify = async (key: TestKey) =>
    verifyClientAssertion(
      params(await makeAssertion({ key, claims: { exp: Math.floor(clock / 1000) + 240 } }), { client, jwksCache, now: () => clock }),
    );

  t.same(await verify(rsaKey), { ok: true });
  t.same(await verify(rsaKey), { ok: true });
  t.equal(fetches, 1, 'second verification served from cache');

  // The client rotates to a new key; a minute later it signs with it.
  published = [rsaKey.publicJwk, ecKey.publicJwk];
  clock += 60_000;
  t.same(await verify(ecKey), { ok: true });
  t.equal(fetches, 2, 'unknown kid triggered one re-fetch');

  t.match(await verify(otherKey), { ok: false, description: /no key at the client jwks_uri/ });
  t.equal(fetches, 2, 'a just-refreshed set is not fetched again for another unknown kid');

  clock += 5 * 60_000;
  t.same(await verify(ecKey), { ok: true });
  t.equal(fetches, 3, 'expired after five minutes');
});

t.test('a failing jwks_uri is reported and not cached', async (t) => {
  let fail = true;
  let fetches = 0;
  const jwksCache = createJwksCache({
    now: () => NOW_MS,
    fetchJwks: async () => {
      fetches++;
      if (fail) throw new Error('connect ECONNREFUSED');
      return { keys: [rsaKey.publicJwk] };
    },
  });
  const client = { client_id: CLIENT_ID, jwks_uri: JWKS_URI };
  t.same(await verifyClientAssertion(params(await makeAssertion(), { client, jwksCache })), {
    ok: false,
    description: 'the client jwks_uri could not be fetched',
  });
  fail = false;
  t.same(await verifyClientAssertion(params(await makeAssertion(), { client, jwksCache })), { ok: true });
  t.equal(fetches, 2);
});

t.test('the jwks cache is bounded', async (t) => {
  const fetched: string[] = [];
  const cache = createJwksCache({
    maxEntries: 2,
    now: () => NOW_MS,
    fetchJwks: async (uri) => {
      fetched.push(uri);
      return { keys: [] };
    },
  });
  await cache.get('https://a.example/jwks');
  await cache.get('https://b.example/jwks');
  await cache.get('https://c.example/jwks');
  await cache.get('https://c.example/jwks');
  await cache.get('https://b.example/jwks');
  await cache.get('https://a.example/jwks');
  t.same(fetched, ['https://a.example/jwks', 'https://b.example/jwks', 'https://c.example/jwks', 'https://a.example/jwks'], 'oldest entry evicted');
});

t.test('registered private keys are not used', async (t) => {
  const { privateKey } = await generateKeyPair('ES384', { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid: 'leaked' };
  const assertion = await new SignJWT({ iss: CLIENT_ID, sub: CLIENT_ID, aud: TOKEN_URL, exp: NOW + 60, jti: 'p' })
    .setProtectedHeader({ alg: 'ES384', kid: 'leaked' })
    .sign(privateKey);
  const client = { client_id: CLIENT_ID, jwks: { keys: [privateJwk] } };
  t.match(await verifyClientAssertion(params(assertion, { client })), { ok: false, description: /matches the client_assertion kid/ });
});

t.test('peekAssertionClientId reads sub (or iss) without verifying', async (t) => {
  t.equal(peekAssertionClientId(await makeAssertion()), CLIENT_ID);
  t.equal(peekAssertionClientId(unsignedJwt({ alg: 'none' }, { iss: 'only-iss' })), 'only-iss');
  t.equal(peekAssertionClientId('garbage'), undefined);
  t.equal(peekAssertionClientId(undefined), undefined);
});
