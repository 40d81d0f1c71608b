import type { Store } from '../../store.js';
import { randomToken } from '../../crypto/random-token.js';
import { RefreshTokens } from './refresh-tokens.js';

/**
 * Every token descended from one user grant (a code redemption or a password grant, then each
 * refresh) belongs to one family. When a code or a rotated refresh token is replayed, someone
 * holds a stolen copy, so the whole family is revoked (RFC 9700 §2.2.2, §4.14.2).
 *
 * The record lists the family's live access-token ids and its current refresh token. It is only
 * written by whoever holds the family's single current refresh token (or code), which
 * `putOnce`/`takeOnce` make one request at a time, so read-modify-write does not lose updates.
 */
interface FamilyRecord {
  clientId: string;
  /** Access tokens still alive: revoked for their remaining lifetime when the family is. */
  accessTokens: { jti: string; exp: number }[];
  /** SHA-256 of the current refresh token, if any. */
  refreshHash?: string;
}

const familyKey = (id: string) => `family:${id}`;
const revokedKey = (id: string) => `family-revoked:${id}`;

export class TokenFamilies {
  constructor(
    private readonly store: Store,
    /** How long a family may live: its longest-lived token (refresh TTL). */
    private readonly lifetimeSeconds: number,
    /** The proxy accepts tokens this long past `exp`, so revocations must outlast that too. */
    private readonly clockSkewSeconds: number,
  ) {}

  /** A fresh family id; `create` may be called with it later, once it has been recorded elsewhere. */
  static newId(): string {
    return randomToken(16);
  }

  async create(clientId: string, id: string = TokenFamilies.newId()): Promise<string> {
    await this.write(id, { clientId, accessTokens: [] });
    return id;
  }

  async get(id: string): Promise<FamilyRecord | undefined> {
    const raw = await this.store.get(familyKey(id));
    return raw === null ? undefined : (JSON.parse(raw) as FamilyRecord);
  }

  async isRevoked(id: string): Promise<boolean> {
    return (await this.store.get(revokedKey(id))) !== null;
  }

  async addAccessToken(id: string, jti: string, exp: number): Promise<void> {
    const family = (await this.get(id)) ?? { clientId: '', accessTokens: [] };
    const now = Math.floor(Date.now() / 1000);
    family.accessTokens = [...family.accessTokens.filter((t) => t.exp + this.clockSkewSeconds > now), { jti, exp }];
    await this.write(id, family);
  }

  async setRefreshHash(id: string, refreshHash: string | undefined): Promise<void> {
    const family = (await this.get(id)) ?? { clientId: '', accessTokens: [] };
    if (refreshHash === undefined) delete family.refreshHash;
    else family.refreshHash = refreshHash;
    await this.write(id, family);
  }

  /**
   * Marks the family revoked first (so a refresh racing with this sees it), then revokes each
   * live access token and deletes the current refresh token.
   */
  async revoke(id: string): Promise<void> {
    await this.store.set(revokedKey(id), '1', this.lifetimeSeconds);
    const family = await this.get(id);
    if (!family) return;
    const now = Math.floor(Date.now() / 1000);
    for (const token of family.accessTokens) {
      const remaining = token.exp - now + this.clockSkewSeconds;
      if (remaining > 0) await this.store.revoke(token.jti, remaining);
    }
    if (family.refreshHash !== undefined) await new RefreshTokens(this.store).delete(family.refreshHash);
  }

  private async write(id: string, family: FamilyRecord): Promise<void> {
    await this.store.set(familyKey(id), JSON.stringify(family), this.lifetimeSeconds);
  }
}
