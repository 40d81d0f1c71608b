import t from 'tap';
import { issueAccessToken, type AccessTokenSettings } from '../../../authz/tokens/access-token.js';
import { generateSigningJwk, makeKeyRing, type SigningKey } from '../../../authz/tokens/signing-keys.js';
import { createTokenVerifier } from '../../../authz/tokens/verified-token-cache.js';
import { importJWK, type CryptoKey } from 'jose';

async function keyRing() {
  const jwk = await generateSigningJwk();
  const { d: _d, ...pub } = jwk;
  const key: SigningKey = {
    kid: jwk.kid!,
    privateKey: (await importJWK(jwk, 'ES256')) as CryptoKey,
    publicKey: (await importJWK({ ...pub, alg: 'ES256' }, 'ES256')) as CryptoKey,
    publicJwk: { ...pub, alg: 'ES256', use: 'sig' },
  };
  return makeKeyRing([key]);
}

const settings: AccessTokenSettings = { issuer: 'https://gw', audience: 'https://gw', ttlSeconds: 60, clockSkewSeconds: 0 };

t.test('a verified token is served from the cache until exp or max age, failures are never cached', async (t) => {
  let clock = Date.now();
  const keys = await keyRing();
  const verify = createTokenVerifier({ maxEntries: 2, maxAgeMs: 30_000, now: () => clock });
  const { token } = await issueAccessToken(keys, settings, { sub: 's', client_id: 'c', scope: 'system/*.rs' }, Math.floor(clock / 1000));

  const first = await verify(keys, settings, token);
  t.ok(first.ok);
  const second = await verify(keys, settings, token);
  t.ok(second.ok);
  t.equal(second.ok && first.ok && second.claims, first.ok && first.claims, 'the same claims object: served from the cache');

  const otherKeys = await keyRing();
  const rotated = await verify(otherKeys, settings, token);
  t.notOk(rotated.ok, 'a different key ring does not reuse the cached success');
  t.notOk((await verify(otherKeys, settings, token)).ok, 'the failure was not cached as a success');

  clock += 31_000;
  const aged = await verify(keys, settings, token);
  t.ok(aged.ok, 'still valid: re-verified after max age');
  t.not(aged.ok && aged.claims, first.ok && first.claims, 're-verified, not served from cache');

  clock += 40_000;
  const pastExp = await verify(keys, settings, token);
  t.not(pastExp.ok && pastExp.claims, aged.ok && aged.claims, 'past exp (on the cache clock) the entry is not served: it is verified afresh');
});

t.test('bounded: the least recently used token is dropped', async (t) => {
  const keys = await keyRing();
  const verify = createTokenVerifier({ maxEntries: 2, maxAgeMs: 30_000 });
  const tokens = await Promise.all([1, 2, 3].map((i) => issueAccessToken(keys, settings, { sub: `s${i}`, client_id: 'c', scope: 'x' }).then((r) => r.token)));
  const firstClaims = await verify(keys, settings, tokens[0]!);
  await verify(keys, settings, tokens[1]!);
  await verify(keys, settings, tokens[0]!); // 0 is now most recent
  await verify(keys, settings, tokens[2]!); // evicts 1
  const again0 = await verify(keys, settings, tokens[0]!);
  t.equal(again0.ok && again0.claims, firstClaims.ok && firstClaims.claims, 'recently used entry kept');
  const tampered = tokens[0]!.slice(0, -3) + (tokens[0]!.endsWith('A') ? 'BBB' : 'AAA');
  t.notOk((await verify(keys, settings, tampered)).ok, 'a tampered token is not a cache hit');
});
