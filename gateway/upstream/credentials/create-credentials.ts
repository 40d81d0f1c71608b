/**
 * `upstream.auth` -> the UpstreamCredentials of its type. Token kinds get one HTTP agent for
 * their token endpoint (and discovery) with upstream.tls's settings and upstream.timeout.
 */
import type { UpstreamConfig } from '../../../config/types.js';
import type { UpstreamFiles } from '../../../config/upstream-files.js';
import type { UpstreamTls } from '../tls.js';
import { clientCredentials } from './client-credentials.js';
import { googleServiceAccount } from './google-service-account.js';
import { privateKeyJwt } from './private-key-jwt.js';
import { basicCredentials, headerCredentials, noCredentials } from './static-credentials.js';
import { tokenEndpointOf } from './token-endpoint-discovery.js';
import { createTokenHttp, type TokenHttp } from './token-http.js';
import type { TokenEndpointLocator } from './token-request-parameters.js';
import type { CredentialsLog, TokenRequestEvent, UpstreamCredentials } from './upstream-credentials.js';

export interface CredentialsOptions {
  upstream: UpstreamConfig;
  /** What config/upstream-files.ts read (the signing key, the service-account key). */
  files: UpstreamFiles;
  tls: UpstreamTls;
  log?: CredentialsLog;
  /** Called once per token request, for the metric. */
  onTokenRequest?: (event: TokenRequestEvent) => void;
  /** ms clock of the token cache (tests). */
  now?: () => number;
  /** How long a failed token request is answered from memory before the next attempt (ms). Default 1000. */
  failureHoldMs?: number;
}

export function createUpstreamCredentials(options: CredentialsOptions): UpstreamCredentials {
  const auth = options.upstream.auth ?? { type: 'none' as const };
  switch (auth.type) {
    case 'none':
      return noCredentials();
    case 'header':
      return headerCredentials(auth.header);
    case 'basic':
      return basicCredentials(auth.basic);
    case 'client_credentials': {
      const http = tokenHttp(options);
      return clientCredentials(auth, locator(auth, http), http, kindOptions(options, http));
    }
    case 'private_key_jwt': {
      const signingKey = options.files.signingKey;
      if (signingKey === undefined) throw new Error('upstream.auth.signing_key_file was not read (readUpstreamFiles first)');
      const http = tokenHttp(options);
      return privateKeyJwt(auth, signingKey, locator(auth, http), http, kindOptions(options, http));
    }
    case 'google_service_account': {
      const account = options.files.serviceAccount;
      if (account === undefined) throw new Error('upstream.auth.key_file was not read (readUpstreamFiles first)');
      const http = tokenHttp(options);
      return googleServiceAccount(account, auth.scope, http, kindOptions(options, http));
    }
  }
}

function tokenHttp(options: CredentialsOptions): TokenHttp {
  return createTokenHttp({ tls: options.tls.tokenEndpointConnect, timeoutMs: options.upstream.timeout * 1000 });
}

function locator(auth: { token_url?: string | undefined; issuer?: string | undefined }, http: TokenHttp): TokenEndpointLocator {
  if (auth.token_url !== undefined) {
    const url = auth.token_url;
    return () => Promise.resolve(url);
  }
  return tokenEndpointOf(auth.issuer!, http);
}

function kindOptions(options: CredentialsOptions, http: TokenHttp) {
  return {
    close: () => http.close(),
    ...(options.log !== undefined ? { log: options.log } : {}),
    ...(options.onTokenRequest !== undefined ? { onTokenRequest: options.onTokenRequest } : {}),
    ...(options.now !== undefined ? { now: options.now } : {}),
    ...(options.failureHoldMs !== undefined ? { failureHoldMs: options.failureHoldMs } : {}),
  };
}
