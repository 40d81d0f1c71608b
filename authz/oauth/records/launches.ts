import type { Store } from '../../store.js';
import { randomToken, sha256Hex } from '../../crypto/random-token.js';
import type { LaunchContextFields } from './launch-context.js';

/**
 * SMART EHR launch contexts. An EHR (a confidential client with `creates_launches`) creates one
 * for a given app; the app receives the opaque `launch` value on its launch URL and sends it
 * back in its authorize request, where it is redeemed. The value is 256 random bits (SMART asks
 * for an opaque value; ≥128 bits makes it unguessable), stored only as its SHA-256, bound to the
 * app's client_id, short-lived (tokens.launch_ttl) and usable once: `takeOnce` decides among
 * racing redemptions, and a value presented by another app is used up too (it has leaked).
 */
export interface Launch extends LaunchContextFields {
  /** The app the launch is for: only its authorize request may redeem it. */
  clientId: string;
  /** The EHR client that created it (audit). */
  createdBy: string;
  /** Seconds since the epoch. */
  createdAt: number;
}

export type LaunchRedemption =
  | { kind: 'valid'; launch: Launch }
  /** Never issued, expired, or already redeemed. */
  | { kind: 'unknown' }
  /** Issued for another app: refused, and no longer usable by anyone. */
  | { kind: 'other-client' };

/** tokens.launch_ttl when the config does not set it: the EHR opens the app right away. */
export const LAUNCH_TTL_DEFAULT_SECONDS = 5 * 60;

export function launchTtlSeconds(tokens: { launch_ttl?: number }): number {
  return tokens.launch_ttl ?? LAUNCH_TTL_DEFAULT_SECONDS;
}

const LAUNCH_BYTES = 32;
const LAUNCH_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const key = (hash: string) => `launch:${hash}`;

export class Launches {
  constructor(
    private readonly store: Store,
    private readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores the context and returns the launch value and its lifetime (the endpoint's `expires_in`). */
  async create(launch: Omit<Launch, 'createdAt'>): Promise<{ launch: string; expiresIn: number }> {
    const value = randomToken(LAUNCH_BYTES);
    const stored: Launch = { ...launch, createdAt: Math.floor(this.now() / 1000) };
    if (!(await this.store.putOnce(key(sha256Hex(value)), JSON.stringify(stored), this.ttlSeconds))) {
      throw new Error('launch value collision');
    }
    return { launch: value, expiresIn: this.ttlSeconds };
  }

  /** Uses the launch up for `clientId`'s authorize request. */
  async redeem(launch: string, clientId: string): Promise<LaunchRedemption> {
    if (!LAUNCH_PATTERN.test(launch)) return { kind: 'unknown' };
    const raw = await this.store.takeOnce(key(sha256Hex(launch)));
    if (raw === null) return { kind: 'unknown' };
    const stored = JSON.parse(raw) as Launch;
    return stored.clientId === clientId ? { kind: 'valid', launch: stored } : { kind: 'other-client' };
  }
}

/**
 * The app's launch URL with `iss` and `launch` added (SMART "EHR launch"): kept query
 * parameters stay, an `iss` or `launch` already in the registered URI is replaced.
 */
export function launchUrl(launchUri: string, issuer: string, launch: string): string {
  const url = new URL(launchUri);
  url.searchParams.set('iss', issuer);
  url.searchParams.set('launch', launch);
  return url.href;
}
