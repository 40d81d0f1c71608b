import type { Store } from '../../store.js';
import { randomToken, sha256Hex } from '../../crypto/random-token.js';

/** A secret handed to a client (an authorization code, a refresh token): the value, and the hash it is stored under. */
export interface BearerSecret {
  value: string;
  hash: string;
}

/** 256 random bits. */
const SECRET_BYTES = 32;

/**
 * JSON records stored under the SHA-256 of the bearer secret that names them, never under the
 * secret itself: a copy of the store (or a key listing) yields no usable code or token. One
 * implementation for every kind (authorization codes, refresh tokens, ...), each under its own
 * key prefix.
 *
 * Two ways to keep one, not to be mixed for one kind (the store keeps single-use values apart):
 * single-use records (`issueOnce`, `take`) and lasting ones (`issue`, `read`, `delete`).
 */
export class HashedRecords<T> {
  constructor(
    private readonly store: Store,
    /** Key prefix of this kind of record, e.g. `code:`. */
    private readonly prefix: string,
  ) {}

  static hashOf(value: string): string {
    return sha256Hex(value);
  }

  /** A new secret and its record, written only if no record has that hash (a collision throws). */
  async issueOnce(record: T, ttlSeconds: number): Promise<BearerSecret> {
    const secret = newSecret();
    if (!(await this.store.putOnce(this.key(secret.hash), JSON.stringify(record), ttlSeconds))) throw new Error(`${this.prefix} record collision`);
    return secret;
  }

  /** A new secret and its record, for records that are read many times and deleted explicitly. */
  async issue(record: T, ttlSeconds: number): Promise<BearerSecret> {
    const secret = newSecret();
    await this.store.set(this.key(secret.hash), JSON.stringify(record), ttlSeconds);
    return secret;
  }

  /** Reads and deletes atomically: of concurrent callers, at most one gets the record. */
  async take(value: string): Promise<{ record: T; hash: string } | undefined> {
    const hash = sha256Hex(value);
    const raw = await this.store.takeOnce(this.key(hash));
    return raw === null ? undefined : { record: JSON.parse(raw) as T, hash };
  }

  async read(value: string): Promise<{ record: T; hash: string } | undefined> {
    const hash = sha256Hex(value);
    const raw = await this.store.get(this.key(hash));
    return raw === null ? undefined : { record: JSON.parse(raw) as T, hash };
  }

  async delete(hash: string): Promise<void> {
    await this.store.delete(this.key(hash));
  }

  private key(hash: string): string {
    return `${this.prefix}${hash}`;
  }
}

function newSecret(): BearerSecret {
  const value = randomToken(SECRET_BYTES);
  return { value, hash: sha256Hex(value) };
}
