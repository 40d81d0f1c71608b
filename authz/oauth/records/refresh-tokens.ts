import type { Store } from '../../store.js';
import { randomToken, sha256Hex } from '../../crypto/random-token.js';

/**
 * Opaque refresh tokens (256 random bits), stored only as their SHA-256 and rotated on every
 * use. Reuse of a rotated token is reported so the caller can revoke the family.
 */
export interface RefreshRecord {
  familyId: string;
  clientId: string;
  /** The scope of the grant; every rotation keeps it (RFC 6749 §6), even after a narrowed refresh. */
  scope: string;
  username: string;
  patient?: string;
  fhirUser?: string;
  authTime?: number;
  /** Seconds since the epoch. */
  exp: number;
}

export type RefreshLookup =
  | { kind: 'active'; record: RefreshRecord; hash: string }
  | { kind: 'unknown' }
  /** Already rotated (or being rotated by a concurrent request): a copy is in the wrong hands. */
  | { kind: 'reused'; familyId: string };

const recordKey = (hash: string) => `refresh:${hash}`;
const rotatedKey = (hash: string) => `refresh-rotated:${hash}`;
const claimKey = (hash: string) => `refresh-claim:${hash}`;
const REFRESH_TOKEN_BYTES = 32;

export class RefreshTokens {
  constructor(private readonly store: Store) {}

  async issue(record: RefreshRecord): Promise<{ token: string; hash: string }> {
    const token = randomToken(REFRESH_TOKEN_BYTES);
    const hash = sha256Hex(token);
    await this.store.set(recordKey(hash), JSON.stringify(record), secondsUntil(record.exp));
    return { token, hash };
  }

  /** Reads without using it up (introspection, revocation). */
  async peek(token: string): Promise<RefreshLookup> {
    const hash = sha256Hex(token);
    const raw = await this.store.get(recordKey(hash));
    if (raw !== null) return { kind: 'active', record: JSON.parse(raw) as RefreshRecord, hash };
    const familyId = await this.store.get(rotatedKey(hash));
    return familyId === null ? { kind: 'unknown' } : { kind: 'reused', familyId };
  }

  /**
   * Uses the token up for a rotation. Of concurrent callers exactly one gets `active`
   * (`putOnce` decides); the others, and anyone later, get `reused`.
   */
  async consume(token: string): Promise<RefreshLookup> {
    const found = await this.peek(token);
    if (found.kind !== 'active') return found;
    const ttl = secondsUntil(found.record.exp);
    if (!(await this.store.putOnce(claimKey(found.hash), '1', ttl))) {
      return { kind: 'reused', familyId: found.record.familyId };
    }
    await this.store.set(rotatedKey(found.hash), found.record.familyId, ttl);
    await this.store.delete(recordKey(found.hash));
    return found;
  }

  /** RFC 7009: a revoked refresh token is simply gone (its family is revoked by the caller). */
  async delete(hash: string): Promise<void> {
    await this.store.delete(recordKey(hash));
  }
}

function secondsUntil(exp: number): number {
  return Math.max(1, exp - Math.floor(Date.now() / 1000));
}
