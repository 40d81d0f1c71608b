import type { Store } from '../../store.js';
import { HashedRecords } from './hashed-records.js';
import type { EhrContext, FederatedGrantor } from '../user-tokens.js';

/**
 * Authorization codes (RFC 6749 §4.1.2): 256 random bits, kept (by hash) for a short time,
 * bound to everything the token request must repeat, and redeemable exactly once.
 */
export interface CodeRecord {
  clientId: string;
  redirectUri: string;
  /** S256 challenge, when the authorization request carried one. */
  codeChallenge?: string;
  scope: string;
  username: string;
  patient?: string;
  fhirUser?: string;
  nonce?: string;
  authTime: number;
  federated?: FederatedGrantor;
  ehrContext?: EhrContext;
  /**
   * Milliseconds since the epoch: a consent withdrawn at or after it voids the code (records/consents.ts
   * withdrawnSince). Absent (a code written before it existed): any remembered withdrawal voids it.
   */
  issuedAtMs?: number;
}

type CodeRedemption =
  | { kind: 'valid'; record: CodeRecord; hash: string }
  | { kind: 'unknown' }
  /** Redeemed before: the tokens of that redemption must be revoked (RFC 6749 §4.1.2). */
  | { kind: 'replayed'; familyId: string };

const redeemedKey = (hash: string) => `code-redeemed:${hash}`;

export class AuthorizationCodes {
  private readonly codes: HashedRecords<CodeRecord>;

  constructor(private readonly store: Store) {
    this.codes = new HashedRecords(store, 'code:');
  }

  async issue(record: CodeRecord, ttlSeconds: number): Promise<string> {
    return (await this.codes.issueOnce(record, ttlSeconds)).value;
  }

  /** Atomically takes the code; only the first caller ever sees `valid`. */
  async redeem(code: string): Promise<CodeRedemption> {
    const taken = await this.codes.take(code);
    if (taken) return { kind: 'valid', record: taken.record, hash: taken.hash };
    const hash = HashedRecords.hashOf(code);
    const familyId = await this.store.get(redeemedKey(hash));
    return familyId === null ? { kind: 'unknown' } : { kind: 'replayed', familyId };
  }

  /** Remembers which family a redeemed code started, for as long as that family can live. */
  async markRedeemed(hash: string, familyId: string, ttlSeconds: number): Promise<void> {
    await this.store.set(redeemedKey(hash), familyId, ttlSeconds);
  }
}
