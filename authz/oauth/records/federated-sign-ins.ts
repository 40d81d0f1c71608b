import type { Store } from '../../store.js';
import { secretsEqual } from '../../crypto/constant-time.js';
import { randomToken, sha256Hex } from '../../crypto/random-token.js';

/**
 * A sign-in at an external OpenID provider, between the redirect to the provider and its
 * callback. The `state` sent to the provider is the only handle: 256 random bits, stored only
 * as its SHA-256, usable once (`takeOnce`: of a callback and its replay, or two racing tabs,
 * exactly one finds the record). The record holds what must never travel through the browser
 * (the nonce and the PKCE verifier) and is bound to the browser that started the sign-in: the
 * callback must come with the same browser-binding cookie, so nobody can make a victim's
 * browser finish a sign-in the attacker started (login CSRF, RFC 9700 §4.7 / OIDC Core §15.5.2).
 */
export interface FederatedSignIn {
  /** identity_providers[].id the sign-in went to; the callback must arrive on that provider's path. */
  providerId: string;
  /** Sent as `nonce`; the ID token must carry it. */
  nonce: string;
  /** PKCE code_verifier (RFC 7636) for the code exchange. */
  codeVerifier: string;
  /** The authorize interaction (authz/interactions.ts) this sign-in resumes. */
  interactionId: string;
  /** Seconds since the epoch. */
  createdAt: number;
}

interface StoredSignIn extends FederatedSignIn {
  /** SHA-256 of the browser-binding cookie value: a store dump does not yield a usable cookie. */
  browserHash: string;
}

export type FederatedSignInLookup =
  | { kind: 'valid'; signIn: FederatedSignIn }
  /** Never issued, expired, or already used (a replayed callback). */
  | { kind: 'unknown' }
  /** Issued, but to another browser (or the cookie is gone): used up, and not to be acted on. */
  | { kind: 'other-browser' };

/** As long as the interaction it resumes (INTERACTION_TTL_SECONDS): nobody needs longer at their provider's login page. */
export const FEDERATED_SIGN_IN_TTL_SECONDS = 10 * 60;

const STATE_BYTES = 32;
/** base64url of 32 bytes: anything else was not made here and is not looked up. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const key = (stateHash: string) => `federated-sign-in:${stateHash}`;

export class FederatedSignIns {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores the sign-in and returns the `state` to send to the provider. */
  async start(signIn: Omit<FederatedSignIn, 'createdAt'>, browserBinding: string): Promise<string> {
    if (!TOKEN_PATTERN.test(browserBinding)) throw new TypeError('browser binding must be 32 random bytes, base64url');
    const state = randomToken(STATE_BYTES);
    const stored: StoredSignIn = { ...signIn, createdAt: Math.floor(this.now() / 1000), browserHash: sha256Hex(browserBinding) };
    if (!(await this.store.putOnce(key(sha256Hex(state)), JSON.stringify(stored), FEDERATED_SIGN_IN_TTL_SECONDS))) {
      throw new Error('federated sign-in state collision');
    }
    return state;
  }

  /**
   * Uses the sign-in up, whatever the outcome: a callback that fails a check cannot be retried
   * with other cookies or parameters. `browserBinding` is the cookie value the callback came with.
   */
  async take(state: string, browserBinding: string | undefined): Promise<FederatedSignInLookup> {
    if (!TOKEN_PATTERN.test(state)) return { kind: 'unknown' };
    const raw = await this.store.takeOnce(key(sha256Hex(state)));
    if (raw === null) return { kind: 'unknown' };
    const { browserHash, ...signIn } = JSON.parse(raw) as StoredSignIn;
    if (browserBinding === undefined || !TOKEN_PATTERN.test(browserBinding) || !secretsEqual(sha256Hex(browserBinding), browserHash)) {
      return { kind: 'other-browser' };
    }
    return { kind: 'valid', signIn };
  }
}
