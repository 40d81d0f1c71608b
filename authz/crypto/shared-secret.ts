import { randomBytes } from 'node:crypto';
import type { Store } from '../store.js';

/**
 * HMAC keys for CSRF tokens and session cookies. They live in the store (first instance to
 * start creates them, `setIfAbsent` settles races) so every gateway instance behind one Redis
 * accepts what another issued. Cached per store for the life of the process.
 */
type SecretName = 'csrf' | 'session-cookie';

const SECRET_BYTES = 32;
const cache = new WeakMap<Store, Map<SecretName, Promise<Buffer>>>();

export function sharedSecret(store: Store, name: SecretName): Promise<Buffer> {
  let byName = cache.get(store);
  if (!byName) {
    byName = new Map();
    cache.set(store, byName);
  }
  const known = byName.get(name);
  if (known) return known;
  const loading = load(store, name);
  byName.set(name, loading);
  // A store outage must not be remembered: the next request tries again.
  loading.catch(() => byName.delete(name));
  return loading;
}

async function load(store: Store, name: SecretName): Promise<Buffer> {
  const key = `secret:${name}`;
  const existing = await store.get(key);
  const value = existing ?? (await store.setIfAbsent(key, randomBytes(SECRET_BYTES).toString('base64url')));
  const secret = Buffer.from(value, 'base64url');
  if (secret.length < SECRET_BYTES) throw new Error(`stored secret ${name} is too short`);
  return secret;
}
