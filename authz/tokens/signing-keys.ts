import { readFile } from 'node:fs/promises';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';
import type { Store } from '../store.js';

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

class SigningKeyError extends Error {}

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

export interface KeyRingOptions {
  signingKeyFile?: string;
  /** Seconds per epoch of generated keys (tokens.key_rotation); absent -> one shared key, never rotated. */
  keyRotation?: number;
  /**
   * Seconds a key must keep verifying after it last signed: access_token_ttl + clock_skew
   * (ID tokens live no longer). Only used with keyRotation.
   */
  verifyWindowSeconds?: number;
  store: Store;
  log: { info(obj: object, msg: string): void };
  /** ms since the epoch; tests move time. */
  now?: () => number;
}

/**
 * Key file if configured; with `keyRotation`, one generated key per epoch shared through the
 * store (see epochKeyRing); otherwise a generated key shared through the store, so that every
 * instance on one Redis signs and verifies with the same key. With the embedded store the
 * generated keys live as long as the process.
 */
export async function loadKeyRing(options: KeyRingOptions): Promise<KeyRing> {
  if (options.signingKeyFile) {
    const jwks = await readKeyFile(options.signingKeyFile);
    const keys = await Promise.all(jwks.map((jwk, i) => fromPrivateJwk(jwk, `${options.signingKeyFile} key ${i}`)));
    const kids = new Set<string>();
    for (const key of keys) {
      if (kids.has(key.kid)) throw new SigningKeyError(`tokens.signing_key_file: ${options.signingKeyFile} lists kid ${JSON.stringify(key.kid)} twice`);
      kids.add(key.kid);
    }
    options.log.info({ kids: keys.map((k) => k.kid), file: options.signingKeyFile }, 'signing keys loaded from file');
    return makeKeyRing(keys);
  }
  if (options.keyRotation !== undefined) return epochKeyRing({ ...options, keyRotation: options.keyRotation });
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

/** The epochs whose keys a ring holds at `nowMs`: current (signs), next (pre-published), and the older ones still verifying. */
function epochsAt(nowMs: number, rotationSeconds: number, verifyWindowSeconds: number): { current: number; next: number; previous: number[] } {
  const current = Math.floor(nowMs / 1000 / rotationSeconds);
  // A key of epoch j signs until (j+1)·R and must verify until (j+1)·R + window.
  const back = Math.ceil(verifyWindowSeconds / rotationSeconds);
  const previous: number[] = [];
  for (let j = current - 1; j >= current - back; j--) previous.push(j);
  return { current, next: current + 1, previous };
}

/** When the ring must next be rebuilt: the start of the next epoch, ms since the epoch. */
export function nextEpochStartMs(nowMs: number, rotationSeconds: number): number {
  return (Math.floor(nowMs / 1000 / rotationSeconds) + 1) * rotationSeconds * 1000;
}

/**
 * Rotating generated keys. Time is cut into epochs of `keyRotation` seconds; epoch
 * `floor(now / rotation)` has one key, created by whichever instance needs it first and stored
 * with setIfAbsent, so every instance on one store agrees on it. The current epoch's key signs;
 * the next epoch's key is already published (so an instance whose clock runs a little ahead
 * signs with a key the others already know); keys of earlier epochs stay in the JWKS and verify
 * until every token they signed has expired, then drop out (and expire from the store).
 */
async function epochKeyRing(options: KeyRingOptions & { keyRotation: number }): Promise<KeyRing> {
  const nowMs = (options.now ?? Date.now)();
  const rotation = options.keyRotation;
  const window = options.verifyWindowSeconds ?? 0;
  const { current, next, previous } = epochsAt(nowMs, rotation, window);
  const epochs = [current, next, ...previous];
  const created: number[] = [];
  const keys = await Promise.all(
    epochs.map(async (epoch) => {
      const name = `${SHARED_KEY_NAME}:${rotation}s:${epoch}`;
      // Needed until its last token expired, plus one epoch of margin; then the store forgets it.
      const ttlSeconds = ((epoch + 2) * rotation + window) - nowMs / 1000;
      let stored = await options.store.get(name);
      if (stored === null) {
        const candidate = JSON.stringify(await generateSigningJwk());
        stored = await options.store.setIfAbsent(name, candidate, ttlSeconds);
        if (stored === candidate) created.push(epoch);
      }
      return fromPrivateJwk(JSON.parse(stored) as JWK, `stored signing key of epoch ${epoch}`);
    }),
  );
  options.log.info(
    { kids: keys.map((k) => k.kid), signing_kid: keys[0]!.kid, epoch: current, rotation_seconds: rotation, created_epochs: created },
    'rotating signing keys loaded',
  );
  return makeKeyRing(keys);
}

/** Same kids in the same order: a refresh that changed nothing need not swap the runtime. */
export function sameKeys(a: KeyRing, b: KeyRing): boolean {
  const ka = a.jwks().keys.map((k) => k.kid);
  const kb = b.jwks().keys.map((k) => k.kid);
  return ka.length === kb.length && ka.every((kid, i) => kid === kb[i]);
}
