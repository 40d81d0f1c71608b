import { readFile } from 'node:fs/promises';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';
import type { Store } from '../gateway/store/store.js';

/** The only algorithm the gateway signs with, and therefore the only one it accepts on its own tokens. */
export const SIGNING_ALG = 'ES256';
const SHARED_KEY_NAME = 'signing-keys';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

/** The gateway's keys: the newest signs, all of them verify (so tokens outlive a rotation). */
export interface KeyRing {
  signing: SigningKey;
  byKid: Map<string, SigningKey>;
  jwks(): { keys: JWK[] };
}

export class SigningKeyError extends Error {}

export function makeKeyRing(keys: SigningKey[]): KeyRing {
  const [signing] = keys;
  if (!signing) throw new SigningKeyError('no signing key');
  const byKid = new Map(keys.map((k) => [k.kid, k]));
  const jwks = { keys: keys.map((k) => k.publicJwk) };
  return { signing, byKid, jwks: () => jwks };
}

async function fromPrivateJwk(jwk: JWK, origin: string): Promise<SigningKey> {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d) {
    throw new SigningKeyError(`${origin}: expected a private EC P-256 JWK (kty "EC", crv "P-256", with "d") for ES256`);
  }
  const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk));
  const privateKey = (await importJWK({ ...jwk, alg: SIGNING_ALG }, SIGNING_ALG)) as CryptoKey;
  const { d: _d, ...publicPart } = jwk;
  const publicJwk: JWK = { kty: 'EC', crv: 'P-256', x: publicPart.x, y: publicPart.y, kid, alg: SIGNING_ALG, use: 'sig' };
  const publicKey = (await importJWK(publicJwk, SIGNING_ALG)) as CryptoKey;
  return { kid, privateKey, publicKey, publicJwk };
}

export async function generateSigningJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = await calculateJwkThumbprint(jwk);
  jwk.alg = SIGNING_ALG;
  return jwk;
}

/** A key file holds one private JWK, or a JWKS whose first key is the newest (the one that signs). */
async function readKeyFile(path: string): Promise<JWK[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new SigningKeyError(`tokens.signing_key_file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SigningKeyError(`tokens.signing_key_file: ${path} is not JSON (expected a private JWK or a JWKS)`);
  }
  const keys = (parsed as { keys?: unknown }).keys;
  return Array.isArray(keys) ? (keys as JWK[]) : [parsed as JWK];
}

/**
 * Key file if configured; otherwise a generated key shared through the store, so that every
 * instance on one Redis signs and verifies with the same key. With the embedded store the
 * generated key lives as long as the process.
 */
export async function loadKeyRing(options: {
  signingKeyFile?: string;
  store: Store;
  log: { info(obj: object, msg: string): void };
}): Promise<KeyRing> {
  if (options.signingKeyFile) {
    const jwks = await readKeyFile(options.signingKeyFile);
    const keys = await Promise.all(jwks.map((jwk, i) => fromPrivateJwk(jwk, `${options.signingKeyFile} key ${i}`)));
    options.log.info({ kids: keys.map((k) => k.kid), file: options.signingKeyFile }, 'signing keys loaded from file');
    return makeKeyRing(keys);
  }
  const candidate = JSON.stringify({ keys: [await generateSigningJwk()] });
  const stored = await options.store.setIfAbsent(SHARED_KEY_NAME, candidate);
  const jwks = (JSON.parse(stored) as { keys: JWK[] }).keys;
  const keys = await Promise.all(jwks.map((jwk, i) => fromPrivateJwk(jwk, `stored signing key ${i}`)));
  options.log.info(
    { kids: keys.map((k) => k.kid), shared: options.store.kind === 'redis', generated: stored === candidate },
    options.store.kind === 'redis' ? 'signing keys shared through the store' : 'signing key generated for this process',
  );
  return makeKeyRing(keys);
}
