import type { Runtime } from '../../runtime.js';
import { refreshTokenTtl } from '../lifetimes.js';
import { Consents } from '../records/consents.js';

/**
 * Records (or, after a rotation, extends) a refresh-token family in the person's consents, so
 * the account page lists what the app can do without them and a withdrawal revokes it. Called
 * right after the grant issued the family's current refresh token, whose lifetime the record takes.
 */
export async function recordRefreshFamily(runtime: Runtime, username: string, clientId: string, familyId: string, scope: string): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await new Consents(runtime.store).addRefreshFamily(username, clientId, { id: familyId, scope, createdAt: now, exp: now + refreshTokenTtl(runtime) });
}
