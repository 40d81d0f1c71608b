import type { Store } from '../../store.js';
import { HashedRecords } from './hashed-records.js';
import type { EhrContext, FederatedGrantor } from '../user-tokens.js';

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
  federated?: FederatedGrantor;
  /** The EHR launch's context, repeated in every refreshed token response. */
  ehrContext?: EhrContext;
  /** Seconds since the epoch. */
  exp: number;
}

type RefreshLookup =
  | { kind: 'active'; record: RefreshRecord; hash: string }
  | { kind: 'unknown' }
  /** Already rotated (or being rotated by a concurrent request): a copy is in the wrong hands. */
  | { kind: 'reused'; familyId: string };

const rotatedKey = (hash: string) => `refresh-rotated:${hash}`;
const claimKey = (hash: string) => `refresh-claim:${hash}`;

export class RefreshTokens {
  private readonly tokens: HashedRecords<RefreshRecord>;

  constructor(private readonly store: Store) {
    this.tokens = new HashedRecords(store, 'refresh:');
  }

  async issue(record: RefreshRecord): Promise<{ token: string; hash: string }> {
    const { value, hash } = await this.tokens.issue(record, secondsUntil(record.exp));
    return { token: value, hash };
  }

  /** Reads without using it up (introspection, revocation). */
  async peek(token: string): Promise<RefreshLookup> {
    const found = await this.tokens.read(token);
    if (found) return { kind: 'active', record: found.record, hash: found.hash };
    const hash = HashedRecords.hashOf(token);
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
    await this.tokens.delete(found.hash);
    return found;
  }

  /** RFC 7009: a revoked refresh token is simply gone (its family is revoked by the caller). */
  async delete(hash: string): Promise<void> {
    await this.tokens.delete(hash);
  }
}

function secondsUntil(exp: number): number {
  return Math.max(1, exp - Math.floor(Date.now() / 1000));
}
