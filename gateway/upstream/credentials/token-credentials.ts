/**
 * The part every token kind shares: a TokenCache around the kind's own token request, the
 * metric event per request, and one log line when getting tokens starts failing and one when it
 * works again (not one per request).
 */
import type { UpstreamAuthType } from '../../../config/types.js';
import { TokenCache } from './token-cache.js';
import type { FetchedToken } from './token-response.js';
import { UpstreamCredentialsError, type CredentialsLog, type TokenRequestEvent, type UpstreamCredentials } from './upstream-credentials.js';

export interface TokenKindOptions {
  log?: CredentialsLog;
  onTokenRequest?: (event: TokenRequestEvent) => void;
  /** ms, for the cache's expiry decisions (tests move it); JWT timestamps always use the wall clock. */
  now?: () => number;
  failureHoldMs?: number;
  /** Closes what the kind opened (its HTTP agent). */
  close: () => Promise<void>;
}

export function tokenCredentials(kind: UpstreamAuthType, requestToken: () => Promise<FetchedToken>, options: TokenKindOptions): UpstreamCredentials {
  let failing = false;
  const timed = async (): Promise<FetchedToken> => {
    const started = performance.now();
    const durationSeconds = () => (performance.now() - started) / 1000;
    try {
      const token = await requestToken();
      options.onTokenRequest?.({ kind, outcome: 'ok', durationSeconds: durationSeconds() });
      if (failing) options.log?.info({ upstream_auth: kind }, 'upstream token obtained again');
      failing = false;
      return token;
    } catch (err) {
      const failure = err instanceof UpstreamCredentialsError ? err.failure : 'invalid_response';
      options.onTokenRequest?.({ kind, outcome: 'error', failure, durationSeconds: durationSeconds() });
      if (!failing) {
        options.log?.warn(
          { upstream_auth: kind, failure, reason: err instanceof UpstreamCredentialsError ? err.message : err instanceof Error ? err.name : 'unknown' },
          'cannot get a token for the upstream: requests that need one are answered 502 until it works again',
        );
      }
      failing = true;
      throw err;
    }
  };
  const cache = new TokenCache({
    fetch: timed,
    ...(options.now !== undefined ? { now: options.now } : {}),
    ...(options.failureHoldMs !== undefined ? { failureHoldMs: options.failureHoldMs } : {}),
  });
  return {
    kind,
    renewable: true,
    authorize: () => cache.headers(),
    refused: (rejected) => cache.drop(rejected),
    status: () => cache.status(),
    close: options.close,
  };
}
