import type { Store } from '../../store.js';
import { sha256Hex } from '../../crypto/random-token.js';
import { withLease } from './store-lease.js';

/**
 * What a person has granted each app: the consent they asked to be remembered (the scopes and
 * when), and the refresh-token families the app holds on their behalf, so the account page can
 * list both and withdraw them together.
 *
 * Store layout (every key hashed, so neither person keys nor client ids appear in the store):
 * - one record per (person, client): `consent:{sha256([person, client])}`;
 * - one small index per person listing the client ids that have a record:
 *   `consent-index:{sha256(person)}`, because the Store offers no key listing.
 *
 * Concurrency. The Store can only get and set a record whole, so two concurrent
 * read-modify-writes of the same index (a person consenting to two apps in two tabs at once, or
 * a consent racing a token redemption) could each write back a list missing the other's entry,
 * and a consent missing from the index is one the person can neither see nor withdraw. Every
 * write of a person's records therefore happens under one lease per person (store-lease.ts:
 * a `putOnce` key with a short TTL, shared by all gateway instances), which serialises them.
 * Reads take no lease: each write replaces a whole record, so a reader sees the old or the new
 * value, never a mix. Within the lease the record is written before the index, so a crash in
 * between leaves a record the index misses only until that person's next write for that app.
 *
 * Lifetimes. A remembered consent lasts CONSENT_TTL_SECONDS from when it was (re)granted; a
 * family reference as long as its refresh token. A record lives as long as its longest-lived
 * part. The index remembers until when it must live (`until`) and is never rewritten with a
 * shorter lifetime, so no live record is ever unlisted because its index expired first.
 */

export interface RememberedConsent {
  /** The scopes granted, space-separated, as the consent page showed them. */
  scope: string;
  /** Seconds since the epoch. */
  grantedAt: number;
}

export interface RefreshFamilyReference {
  /** Token family id (authz/token-family.ts). */
  id: string;
  /** The scope the family was granted. */
  scope: string;
  /** Seconds since the epoch. */
  createdAt: number;
  /** When its refresh token expires (seconds since the epoch): the reference is dropped after. */
  exp: number;
}

export interface AppConsent {
  clientId: string;
  /** Present when the person ticked "remember": later authorizations within it skip the consent page. */
  remembered?: RememberedConsent;
  /** Live refresh-token families of this app for this person; revoked when the consent is withdrawn. */
  refreshFamilies: RefreshFamilyReference[];
}

/** The per-person index: client ids with a record, and until when (seconds since the epoch) it must exist. */
interface ConsentIndex {
  clientIds: string[];
  until: number;
}

/** How long a remembered consent is honoured before the person is asked again. */
export const CONSENT_TTL_SECONDS = 365 * 24 * 3600;

/**
 * How long a withdrawal is remembered: longer than any authorization code lives (at most 10
 * minutes, config/schema.ts), so a code issued before the withdrawal and redeemed after it is
 * refused (`withdrawnSince`) instead of creating a refresh-token family the withdrawal never saw.
 */
export const WITHDRAWAL_MEMORY_SECONDS = 11 * 60;

const recordKey = (personKey: string, clientId: string) => `consent:${sha256Hex(JSON.stringify([personKey, clientId]))}`;
const indexKey = (personKey: string) => `consent-index:${sha256Hex(personKey)}`;
const leaseName = (personKey: string) => `consents:${sha256Hex(personKey)}`;
const withdrawalKey = (personKey: string, clientId: string) => `consent-withdrawn:${sha256Hex(JSON.stringify([personKey, clientId]))}`;

export class Consents {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** Remembers (or re-grants, replacing the scopes and the date) the person's consent to this app. */
  async remember(personKey: string, clientId: string, scope: string): Promise<void> {
    await this.change(personKey, clientId, (consent) => ({ ...consent, remembered: { scope, grantedAt: this.nowSeconds() } }));
  }

  /**
   * Records a refresh-token family the app received for this person (at the code redemption that
   * created it), or, for a family already recorded (a rotation), takes its new scope and `exp`
   * and keeps when it was created.
   */
  async addRefreshFamily(personKey: string, clientId: string, family: RefreshFamilyReference): Promise<void> {
    await this.change(personKey, clientId, (consent) => {
      const known = consent.refreshFamilies.find((reference) => reference.id === family.id);
      return {
        ...consent,
        refreshFamilies: [...consent.refreshFamilies.filter((reference) => reference.id !== family.id), { ...family, createdAt: known?.createdAt ?? family.createdAt }],
      };
    });
  }

  /** The person's remembered consent to this app, if any and still within its lifetime. */
  async remembered(personKey: string, clientId: string): Promise<RememberedConsent | undefined> {
    const consent = await this.read(personKey, clientId);
    return consent?.remembered && this.isLive(consent.remembered) ? consent.remembered : undefined;
  }

  /** Every app the person has granted something still alive, by client id. */
  async list(personKey: string): Promise<AppConsent[]> {
    const clientIds = await this.readIndex(personKey);
    const consents = await Promise.all(clientIds.map((clientId) => this.read(personKey, clientId)));
    return consents.filter((consent): consent is AppConsent => consent !== undefined).sort((a, b) => a.clientId.localeCompare(b.clientId));
  }

  /**
   * Withdraws the person's consent to this app: revokes each of its refresh-token families with
   * `revokeFamily` (authz/token-family.ts TokenFamilies.revoke), then deletes the record. If a
   * revocation fails, nothing is deleted and the error propagates, so the person can try again
   * and no family is forgotten while still alive. Returns what was withdrawn, or undefined.
   */
  async withdraw(personKey: string, clientId: string, revokeFamily: (familyId: string) => Promise<void>): Promise<AppConsent | undefined> {
    return withLease(this.store, leaseName(personKey), async () => {
      // First, so a code redemption racing with this finds it (withdrawnSince) before or after
      // its family is recorded.
      await this.store.set(withdrawalKey(personKey, clientId), String(this.now()), WITHDRAWAL_MEMORY_SECONDS);
      const consent = await this.read(personKey, clientId);
      for (const family of consent?.refreshFamilies ?? []) await revokeFamily(family.id);
      await this.store.delete(recordKey(personKey, clientId));
      await this.writeIndex(personKey, (await this.readIndex(personKey)).filter((id) => id !== clientId), 0);
      return consent;
    });
  }

  /**
   * Whether the person withdrew their consent to this app at or after `issuedAtMs` (milliseconds
   * since the epoch; within WITHDRAWAL_MEMORY_SECONDS): a code issued before then must not be redeemed.
   */
  async withdrawnSince(personKey: string, clientId: string, issuedAtMs: number): Promise<boolean> {
    const at = await this.store.get(withdrawalKey(personKey, clientId));
    return at !== null && Number(at) >= issuedAtMs;
  }

  private async change(personKey: string, clientId: string, update: (consent: AppConsent) => AppConsent): Promise<void> {
    await withLease(this.store, leaseName(personKey), async () => {
      const current = (await this.read(personKey, clientId)) ?? { clientId, refreshFamilies: [] };
      const next = update(current);
      const ttl = this.ttlOf(next);
      const clientIds = await this.readIndex(personKey);
      if (ttl === 0) {
        await this.store.delete(recordKey(personKey, clientId));
        await this.writeIndex(personKey, clientIds.filter((id) => id !== clientId), 0);
        return;
      }
      await this.store.set(recordKey(personKey, clientId), JSON.stringify(next), ttl);
      await this.writeIndex(personKey, clientIds.includes(clientId) ? clientIds : [...clientIds, clientId], ttl);
    });
  }

  /** The record without its expired parts; undefined when nothing is left. */
  private async read(personKey: string, clientId: string): Promise<AppConsent | undefined> {
    const raw = await this.store.get(recordKey(personKey, clientId));
    if (raw === null) return undefined;
    const stored = JSON.parse(raw) as AppConsent;
    const now = this.nowSeconds();
    const live: AppConsent = {
      clientId: stored.clientId,
      ...(stored.remembered && this.isLive(stored.remembered) ? { remembered: stored.remembered } : {}),
      refreshFamilies: stored.refreshFamilies.filter((family) => family.exp > now),
    };
    return live.remembered || live.refreshFamilies.length > 0 ? live : undefined;
  }

  private async readIndex(personKey: string): Promise<string[]> {
    return (await this.readIndexRecord(personKey)).clientIds;
  }

  private async readIndexRecord(personKey: string): Promise<ConsentIndex> {
    const raw = await this.store.get(indexKey(personKey));
    return raw === null ? { clientIds: [], until: 0 } : (JSON.parse(raw) as ConsentIndex);
  }

  /** Lives at least `atLeastSeconds` more, and never less than it was already promised to. */
  private async writeIndex(personKey: string, clientIds: string[], atLeastSeconds: number): Promise<void> {
    if (clientIds.length === 0) {
      await this.store.delete(indexKey(personKey));
      return;
    }
    const now = this.nowSeconds();
    const { until: promised } = await this.readIndexRecord(personKey);
    const until = Math.max(promised, now + atLeastSeconds);
    const index: ConsentIndex = { clientIds, until };
    await this.store.set(indexKey(personKey), JSON.stringify(index), Math.max(1, until - now));
  }

  /** Seconds the record must live: until its longest-lived part ends; 0 when nothing is alive. */
  private ttlOf(consent: AppConsent): number {
    const now = this.nowSeconds();
    const ends = [
      ...(consent.remembered ? [consent.remembered.grantedAt + CONSENT_TTL_SECONDS] : []),
      ...consent.refreshFamilies.map((family) => family.exp),
    ];
    return Math.max(0, ...ends.map((end) => end - now));
  }

  private isLive(remembered: RememberedConsent): boolean {
    return remembered.grantedAt + CONSENT_TTL_SECONDS > this.nowSeconds();
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }
}

/**
 * Whether a remembered consent covers a request: every requested scope token was granted
 * ("the same or fewer scopes"). Compared token by token, never by what a wildcard might imply,
 * so a request the person has not seen word for word is always shown to them.
 */
export function consentCovers(remembered: RememberedConsent, requestedScope: string): boolean {
  const granted = new Set(remembered.scope.split(' ').filter(Boolean));
  return requestedScope.split(' ').filter(Boolean).every((token) => granted.has(token));
}
