import { readFile } from 'node:fs/promises';
import { calculateJwkThumbprint, importJWK, type CryptoKey, type JWK } from 'jose';

/**
 * The private key the gateway signs its client assertions with when it authenticates at an
 * identity provider's token endpoint with private_key_jwt (RFC 7523 §2.2). The file holds one
 * private JWK; its public part (`publicJwk`) is what the operator registers at the provider.
 */
export interface ProviderClientKey {
  key: CryptoKey;
  kid: string;
  alg: string;
  publicJwk: JWK;
}

export class ProviderClientKeyError extends Error {}

/** RSA keys sign with RS256 unless the JWK says otherwise; EC keys with the curve's algorithm. */
const DEFAULT_ALG: Readonly<Record<string, string>> = { RSA: 'RS256', 'EC:P-256': 'ES256', 'EC:P-384': 'ES384', 'EC:P-521': 'ES512' };
const ALLOWED_ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']);

/** Reads and imports the key; `keyPath` names the config key in every error (e.g. identity_providers[0].signing_key_file). */
export async function loadProviderClientKey(path: string, keyPath: string): Promise<ProviderClientKey> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ProviderClientKeyError(`${keyPath}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new ProviderClientKeyError(`${keyPath}: ${path} is not JSON (expected one private RSA or EC JWK)`);
  }
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk) || typeof jwk.d !== 'string') {
    throw new ProviderClientKeyError(`${keyPath}: ${path} must hold one private JWK (an RSA or EC key with "d")`);
  }
  const alg = jwk.alg ?? DEFAULT_ALG[jwk.kty === 'EC' ? `EC:${jwk.crv}` : String(jwk.kty)];
  if (alg === undefined || !ALLOWED_ALGS.has(alg)) {
    throw new ProviderClientKeyError(`${keyPath}: ${path}: expected an RSA key or an EC P-256/P-384/P-521 key with an RS*, PS* or ES* alg`);
  }
  let key: CryptoKey;
  try {
    key = (await importJWK({ ...jwk, alg }, alg)) as CryptoKey;
  } catch (err) {
    throw new ProviderClientKeyError(`${keyPath}: ${path}: the key cannot be used for ${alg} (${err instanceof Error ? err.message : String(err)})`);
  }
  const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk));
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...publicPart } = jwk;
  return { key, kid, alg, publicJwk: { ...publicPart, kid, alg, use: 'sig' } };
}
