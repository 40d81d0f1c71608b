import { LoginThrottle } from '../records/login-throttle.js';
import { OAuthError } from '../oauth-error.js';
import { capScopeForUser, clientScopeForUserFlow } from '../scope-narrowing.js';
import { tokenFamilies } from '../lifetimes.js';
import { issueUserTokens } from '../user-tokens.js';
import { usersOf } from '../users/users.js';
import { recordRefreshFamily } from './consented-families.js';
import type { GrantHandler } from './grant-handler.js';

/**
 * RFC 6749 §4.3, for confidential clients only. Unknown user and wrong password get the same
 * answer after the same work; repeated failures slow down and then lock the username and IP.
 */
export function passwordGrant(options: { throttleSleep?: (ms: number) => Promise<unknown> } = {}): GrantHandler {
  return {
    grantType: 'password',
    async handle({ client, form, runtime, ip }) {
      if (client.token_endpoint_auth_method === 'none') {
        throw new OAuthError('unauthorized_client', 'Public clients cannot use the password grant');
      }
      const { username, password } = form;
      if (!username || password === undefined) throw new OAuthError('invalid_request', 'username and password are required');
      // Checked before asking for a password, so an invalid request costs no scrypt work.
      const requested = clientScopeForUserFlow(form.scope ?? defaultUserScope(client.scope), client.scope);

      const throttle = new LoginThrottle(runtime, options.throttleSleep ? { sleep: options.throttleSleep } : {});
      const attempt = { username, ip };
      if (await throttle.isLocked(attempt)) {
        throw new OAuthError('invalid_grant', 'Too many failed sign-in attempts; try again later');
      }
      const user = await usersOf(runtime.config).authenticate(username, password);
      if (!user) {
        await throttle.recordFailure(attempt);
        throw new OAuthError('invalid_grant', 'Wrong username or password');
      }
      await throttle.recordSuccess(attempt);

      const scope = capScopeForUser(requested, user);
      const familyId = await tokenFamilies(runtime).create(client.client_id);
      const body = await issueUserTokens(runtime, {
        client,
        subject: user,
        scope,
        consentedScope: scope,
        familyId,
        authTime: Math.floor(Date.now() / 1000),
      });
      // The user granted it by typing their password into the app: their account page lists it.
      if (body.refresh_token !== undefined) await recordRefreshFamily(runtime, user.username, client.client_id, familyId, scope);
      return body;
    },
  };
}

/** Without a scope parameter, the client's registered scope minus what a user flow never gets. */
function defaultUserScope(clientScope: string): string {
  return clientScope
    .split(' ')
    .filter((s) => !s.startsWith('system/'))
    .join(' ');
}
