import type { AssertionVerifier } from './client-authentication.js';
import { createJwksCache, verifyClientAssertion, type JsonWebKeySet, type JwksCache } from './client-assertion.js';
import { OAUTH_PATHS } from '../paths.js';
import type { RuntimeHolder } from '../../runtime.js';

/** One cache of fetched client key sets for the whole process, so jwks_uri is not fetched per request. */
const processJwksCache: JwksCache = createJwksCache();

/**
 * private_key_jwt for the token, introspection and revocation endpoints. The assertion's `aud`
 * must be exactly the token endpoint URL (SMART Backend Services); its `jti` is single-use
 * across all gateway instances because it is recorded in the shared store.
 */
export function privateKeyJwtVerifier(runtime: RuntimeHolder, jwksCache: JwksCache = processJwksCache): AssertionVerifier {
  return async (client, assertion, assertionType) => {
    const current = runtime.get();
    return verifyClientAssertion({
      assertion,
      assertionType,
      expectedAudience: current.publicUrl + OAUTH_PATHS.token,
      client: {
        client_id: client.client_id,
        ...(client.jwks !== undefined ? { jwks: client.jwks as unknown as JsonWebKeySet } : {}),
        ...(client.jwks_uri !== undefined ? { jwks_uri: client.jwks_uri } : {}),
      },
      store: current.store,
      clockSkewSeconds: current.tokens.clockSkewSeconds,
      jwksCache,
    });
  };
}
