import type { Store } from '../../store.js';
import type { AuthorizeRequest } from '../authorize-request.js';
import { INTERACTION_TTL_SECONDS } from '../settings.js';
import { randomToken } from '../../crypto/random-token.js';
import type { LaunchContextFields } from './launch-context.js';

/**
 * One browser's way through sign-in, the patient picker and consent. The validated authorize
 * request lives here, in the store, keyed by a random id: the pages carry only that id (and a
 * CSRF token bound to it), so nothing the browser sends back can change what is being authorized.
 *
 * Each step takes the record (`takeOnce`) and puts the next state back, so a form posted twice
 * (or raced from two tabs) is acted on once.
 */
export interface Interaction {
  request: AuthorizeRequest;
  /** The EHR launch the request redeemed (SMART EHR launch): its patient, encounter and the rest. */
  launch?: LaunchContextFields;
  /** Set once the person has signed in (login form, identity provider or a live session). */
  signedIn?: {
    /** A configured user's username or a federated person's key (the session's). */
    username: string;
    sessionId: string;
    authTime: number;
  };
  /** The patient the person chose on the picker, after the gateway checked they may read it upstream. */
  picked?: { id: string; label: string };
  /** The scope the consent page showed (the request narrowed to this person and patient context): what Allow grants. */
  scope?: string;
  /** Seconds since the epoch; the record's TTL runs from here. */
  createdAt: number;
  /**
   * Digest of the browser binding of the browser that started it (bindingDigest in
   * authz/oauth/pages/browser-binding.ts): posts and sign-in callbacks from any other browser
   * are refused. Absent only in records written before it existed, which are refused too.
   */
  browser?: string;
}

const key = (id: string) => `interaction:${id}`;
const ID_PATTERN = /^[A-Za-z0-9_-]{32}$/;

export class Interactions {
  constructor(private readonly store: Store) {}

  /** A new interaction, not stored yet: the step that shows its first page `put`s it. */
  static begin(fields: Omit<Interaction, 'createdAt'>): { id: string; interaction: Interaction } {
    return { id: randomToken(24), interaction: { ...fields, createdAt: Math.floor(Date.now() / 1000) } };
  }

  async take(id: string): Promise<Interaction | undefined> {
    if (!ID_PATTERN.test(id)) return undefined;
    const raw = await this.store.takeOnce(key(id));
    return raw === null ? undefined : (JSON.parse(raw) as Interaction);
  }

  /** Stores the (new or updated, after `take`) interaction for the next step, within its original lifetime. */
  async put(id: string, interaction: Interaction): Promise<void> {
    const remaining = interaction.createdAt + INTERACTION_TTL_SECONDS - Math.floor(Date.now() / 1000);
    if (remaining <= 0) return;
    await this.store.putOnce(key(id), JSON.stringify(interaction), remaining);
  }
}
