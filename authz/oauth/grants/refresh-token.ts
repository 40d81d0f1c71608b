import { publicClientOfRefreshToken } from './public-refresh-client.js';
import { OAuthError } from '../oauth-error.js';
import { RefreshTokens } from '../records/refresh-tokens.js';
import { capScopeForUser, narrowRefreshScope } from '../scope-narrowing.js';
import { tokenFamilies } from '../lifetimes.js';
import { issueUserTokens, tokenSubject } from '../user-tokens.js';
import { grantingUser } from '../users/granting-user.js';
import { recordRefreshFamily } from './consented-families.js';
import type { GrantHandler } from './grant-handler.js';

const INVALID_REFRESH = 'The refresh token is invalid, expired or revoked';

/**
 * RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use returns a new refresh token, and
 * presenting one that was already rotated revokes the whole family.
 */
export const refreshTokenGrant: GrantHandler = {
  grantType: 'refresh_token',
  // SMART App Launch 2.x: a public app may refresh without repeating its client_id.
  clientOfUnauthenticatedRequest: (runtime, form) => publicClientOfRefreshToken(runtime, form.refresh_token),
  async handle({ client, form, runtime }) {
    if (!form.refresh_token) throw new OAuthError('invalid_request', 'refresh_token is required');
    const refreshTokens = new RefreshTokens(runtime.store);
    const families = tokenFamilies(runtime);

    // Ownership and scope are checked before the token is used up, so neither another client
    // nor a malformed request can burn it.
    const peeked = await refreshTokens.peek(form.refresh_token);
    let scope: string | undefined;
    if (peeked.kind === 'active') {
      if (peeked.record.clientId !== client.client_id) throw new OAuthError('invalid_grant', 'The refresh token was issued to another client');
      const user = grantingUser(runtime, peeked.record);
      if (!user) throw new OAuthError('invalid_grant', 'The user of this grant can no longer sign in here');
      // Narrower on request, never wider; and never more than the user may grant today (in the
      // grant's patient context: their own, the EHR launch's or the one they picked).
      scope = capScopeForUser(narrowRefreshScope(form.scope, peeked.record.scope), user);
    }
    const found = peeked.kind === 'active' ? await refreshTokens.consume(form.refresh_token) : peeked;
    if (found.kind === 'reused') {
      await families.revoke(found.familyId);
      throw new OAuthError('invalid_grant', 'The refresh token was already used; every token of this grant is now revoked');
    }
    if (found.kind === 'unknown' || scope === undefined) throw new OAuthError('invalid_grant', INVALID_REFRESH);

    const record = found.record;
    if (await families.isRevoked(record.familyId)) throw new OAuthError('invalid_grant', INVALID_REFRESH);

    const body = await issueUserTokens(runtime, {
      client,
      subject: tokenSubject(record),
      scope,
      consentedScope: record.scope,
      familyId: record.familyId,
      ...(record.authTime !== undefined ? { authTime: record.authTime } : {}),
      ...(record.ehrContext !== undefined ? { ehrContext: record.ehrContext } : {}),
    });
    // A revocation that raced with this refresh must also catch what was just issued.
    if (await families.isRevoked(record.familyId)) {
      await families.revoke(record.familyId);
      throw new OAuthError('invalid_grant', INVALID_REFRESH);
    }
    // The rotated refresh token lives longer than the one the person's consents know of.
    if (body.refresh_token !== undefined) await recordRefreshFamily(runtime, record.username, client.client_id, record.familyId, record.scope);
    return body;
  },
};
