import type { Store } from '../../store.js';
import { randomToken, sha256Hex } from '../../crypto/random-token.js';

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
}

export type CodeRedemption =
  | { kind: 'valid'; record: CodeRecord; hash: string }
  | { kind: 'unknown' }
  /** Redeemed before: the tokens of that redemption must be revoked (RFC 6749 §4.1.2). */
  | { kind: 'replayed'; familyId: string };

const CODE_BYTES = 32;
const codeKey = (hash: string) => `code:${hash}`;
const redeemedKey = (hash: string) => `code-redeemed:${hash}`;

export class AuthorizationCodes {
  constructor(private readonly store: Store) {}

  async issue(record: CodeRecord, ttlSeconds: number): Promise<string> {
    const code = randomToken(CODE_BYTES);
    if (!(await this.store.putOnce(codeKey(sha256Hex(code)), JSON.stringify(record), ttlSeconds))) {
      throw new Error('authorization code collision');
    }
    return code;
  }

  /** Atomically takes the code; only the first caller ever sees `valid`. */
  async redeem(code: string): Promise<CodeRedemption> {
    const hash = sha256Hex(code);
    const raw = await this.store.takeOnce(codeKey(hash));
    if (raw !== null) return { kind: 'valid', record: JSON.parse(raw) as CodeRecord, hash };
    const familyId = await this.store.get(redeemedKey(hash));
    return familyId === null ? { kind: 'unknown' } : { kind: 'replayed', familyId };
  }

  /** Remembers which family a redeemed code started, for as long as that family can live. */
  async markRedeemed(hash: string, familyId: string, ttlSeconds: number): Promise<void> {
    await this.store.set(redeemedKey(hash), familyId, ttlSeconds);
  }
}
