import { issueAccessToken } from '../../tokens/access-token.js';
import { OAuthError } from '../oauth-error.js';
import { clientCredentialsScope } from '../scope-narrowing.js';
import type { GrantHandler } from './grant-handler.js';

/** RFC 6749 §4.4 (and SMART Backend Services): the client acts on its own behalf; no refresh token (§4.4.3). */
export const clientCredentialsGrant: GrantHandler = {
  grantType: 'client_credentials',
  async handle({ client, form, runtime }) {
    if (client.token_endpoint_auth_method === 'none') {
      throw new OAuthError('unauthorized_client', 'Public clients cannot use client_credentials');
    }
    const scope = clientCredentialsScope(form.scope, client.scope);
    const issued = await issueAccessToken(runtime.keys, runtime.tokens, {
      sub: client.client_id,
      client_id: client.client_id,
      scope,
    });
    return { access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn, scope };
  },
};
