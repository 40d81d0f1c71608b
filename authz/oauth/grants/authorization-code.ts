import { AuthorizationCodes } from '../records/authorization-codes.js';
import { OAuthError } from '../oauth-error.js';
import { verifyCodeVerifier } from '../pkce.js';
import { Consents } from '../records/consents.js';
import { TokenFamilies } from '../records/token-families.js';
import { familyLifetime, tokenFamilies } from '../lifetimes.js';
import { issueUserTokens, tokenSubject } from '../user-tokens.js';
import { grantingUser } from '../users/granting-user.js';
import { recordRefreshFamily } from './consented-families.js';
import type { GrantHandler } from './grant-handler.js';

const INVALID_CODE = 'The authorization code is invalid, expired or already used';
const WITHDRAWN = 'The user withdrew their consent to this app after this code was issued';

/**
 * RFC 6749 §4.1.3 with PKCE (RFC 7636) and the replay rule of §4.1.2: a code redeemed twice
 * revokes every token the first redemption produced. A refresh-token family it creates is
 * recorded with the person's consents (the account page lists it, a withdrawal revokes it); a
 * withdrawal after the code was issued voids the code, checked before and after that record is
 * written so a withdrawal racing with the redemption cannot miss the family.
 */
export const authorizationCodeGrant: GrantHandler = {
  grantType: 'authorization_code',
  async handle({ client, form, runtime }) {
    if (!form.code) throw new OAuthError('invalid_request', 'code is required');
    if (!form.redirect_uri) throw new OAuthError('invalid_request', 'redirect_uri is required');

    const codes = new AuthorizationCodes(runtime.store);
    const families = tokenFamilies(runtime);
    const redemption = await codes.redeem(form.code);
    if (redemption.kind === 'replayed') {
      await families.revoke(redemption.familyId);
      throw new OAuthError('invalid_grant', INVALID_CODE);
    }
    if (redemption.kind === 'unknown') throw new OAuthError('invalid_grant', INVALID_CODE);

    const code = redemption.record;
    // Recorded first thing, so a replay right after this finds the family to revoke, and
    // before any check, so a failed attempt by whoever stole the code still burns it.
    const familyId = TokenFamilies.newId();
    await codes.markRedeemed(redemption.hash, familyId, familyLifetime(runtime));
    await families.create(client.client_id, familyId);

    if (code.clientId !== client.client_id) throw new OAuthError('invalid_grant', 'The authorization code was issued to another client');
    if (code.redirectUri !== form.redirect_uri) throw new OAuthError('invalid_grant', 'redirect_uri differs from the authorization request');
    if (code.codeChallenge !== undefined) {
      const pkce = verifyCodeVerifier(form.code_verifier, code.codeChallenge);
      if (!pkce.ok) throw new OAuthError('invalid_grant', pkce.description);
    } else if (form.code_verifier !== undefined) {
      // RFC 9700 §2.1.1: a verifier without a challenge means someone is downgrading PKCE.
      throw new OAuthError('invalid_grant', 'code_verifier sent, but the authorization request had no code_challenge');
    }

    if (!grantingUser(runtime, code)) throw new OAuthError('invalid_grant', 'The user of this code can no longer sign in here');
    const consents = new Consents(runtime.store);
    const withdrawn = () => consents.withdrawnSince(code.username, client.client_id, code.issuedAtMs ?? 0);
    if (await withdrawn()) throw new OAuthError('invalid_grant', WITHDRAWN);

    const body = await issueUserTokens(runtime, {
      client,
      subject: tokenSubject(code),
      scope: code.scope,
      consentedScope: code.scope,
      familyId,
      ...(code.nonce !== undefined ? { nonce: code.nonce } : {}),
      authTime: code.authTime,
      ...(code.ehrContext !== undefined ? { ehrContext: code.ehrContext } : {}),
    });
    if (body.refresh_token !== undefined) await recordRefreshFamily(runtime, code.username, client.client_id, familyId, code.scope);
    // A replay that raced with this redemption revoked the family before these tokens joined
    // it; a withdrawal that raced with it may have missed the family just recorded.
    if ((await families.isRevoked(familyId)) || (await withdrawn())) {
      await families.revoke(familyId);
      throw new OAuthError('invalid_grant', INVALID_CODE);
    }
    return body;
  },
};
