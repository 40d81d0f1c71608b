import type { Store } from '../../store.js';
import type { AuthorizeRequest } from '../authorize-request.js';
import { INTERACTION_TTL_SECONDS } from '../settings.js';
import { randomToken } from '../../crypto/random-token.js';

/**
 * One browser's way through login and consent. The validated authorize request lives here, in
 * the store, keyed by a random id: the pages carry only that id (and a CSRF token bound to it),
 * so nothing the browser sends back can change what is being authorized.
 *
 * Each step takes the record (`takeOnce`) and puts the next state back, so a form posted twice
 * (or raced from two tabs) is acted on once.
 */
export interface Interaction {
  request: AuthorizeRequest;
  /** Set once the user has signed in (login form or a live session). */
  signedIn?: {
    username: string;
    sessionId: string;
    authTime: number;
    /** The request's scope narrowed to what this user can grant: what the consent page shows. */
    scope: string;
  };
  /** Seconds since the epoch; the record's TTL runs from here. */
  createdAt: number;
  /**
   * Digest of the browser binding of the browser that started it (bindingDigest in
   * authz/oauth/pages/browser-binding.ts): login and consent posts from any other browser are
   * refused. Absent only in records written before it existed, which are refused too.
   */
  browser?: string;
}

const key = (id: string) => `interaction:${id}`;

export class Interactions {
  constructor(private readonly store: Store) {}

  async create(interaction: Omit<Interaction, 'createdAt'>): Promise<string> {
    const id = randomToken(24);
    await this.put(id, { ...interaction, createdAt: Math.floor(Date.now() / 1000) });
    return id;
  }

  async take(id: string): Promise<Interaction | undefined> {
    if (!/^[A-Za-z0-9_-]{32}$/.test(id)) return undefined;
    const raw = await this.store.takeOnce(key(id));
    return raw === null ? undefined : (JSON.parse(raw) as Interaction);
  }

  /** Puts the (updated) interaction back for the next step, within its original lifetime. */
  async put(id: string, interaction: Interaction): Promise<void> {
    const remaining = interaction.createdAt + INTERACTION_TTL_SECONDS - Math.floor(Date.now() / 1000);
    if (remaining <= 0) return;
    await this.store.putOnce(key(id), JSON.stringify(interaction), remaining);
  }
}
