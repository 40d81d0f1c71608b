/**
 * How the gateway proves itself to the upstream (issue 11, `upstream.auth`). Every request the
 * gateway makes to the upstream asks `authorize()` for the headers to add; an upstream 401 is
 * reported with `refused()` so a renewable credential (a token) is fetched anew for the retry.
 */
import type { UpstreamAuthType } from '../../../config/types.js';

export type CredentialsStatus = { ok: true } | { ok: false; reason: string };

export interface UpstreamCredentials {
  readonly kind: UpstreamAuthType;
  /**
   * True when refused() can lead to other credentials (a new token), so retrying a request the
   * upstream answered 401 may succeed; false for none/header/basic, whose retry would send the
   * same thing again.
   */
  readonly renewable: boolean;
  /**
   * The headers to add to one upstream request (an empty object for `none`). Rejects with an
   * UpstreamCredentialsError when no credential can be had: the caller answers 502.
   */
  authorize(): Promise<Readonly<Record<string, string>>>;
  /**
   * The upstream answered 401 to a request sent with `rejected` (what authorize() returned):
   * that token is dropped, so the next authorize() fetches a new one. Without `rejected` the
   * cached token is dropped whatever it is. Dropping by value means that many requests refused
   * together cause one new token, not one each.
   */
  refused(rejected?: Readonly<Record<string, string>>): void;
  /** For /readyz: not ok when the last attempt to get a credential failed and none is usable. */
  status(): CredentialsStatus;
  /** Closes the connections to the token endpoint. */
  close(): Promise<void>;
}

/** Why getting a credential failed; each is a 502 towards the client and a metric label. */
export type CredentialsFailure =
  /** The token endpoint answered with an OAuth error (RFC 6749 §5.2), e.g. invalid_client. */
  | 'refused'
  /** The token endpoint answered with another HTTP error status. */
  | 'http_error'
  /** No connection (refused, DNS, reset). */
  | 'unreachable'
  /** A TLS handshake failure; the message names the certificate problem. */
  | 'tls'
  /** No answer within upstream.timeout. */
  | 'timeout'
  /** An answer that is not a usable RFC 6749 §5.1 token response. */
  | 'invalid_response'
  /** The issuer's metadata could not be had or is not acceptable (RFC 8414 §3). */
  | 'discovery';

/**
 * A failure to get upstream credentials. The message is safe for logs and for the
 * OperationOutcome: it never holds a secret, an assertion or a token.
 */
export class UpstreamCredentialsError extends Error {
  readonly failure: CredentialsFailure;

  constructor(failure: CredentialsFailure, message: string) {
    super(message);
    this.name = 'UpstreamCredentialsError';
    this.failure = failure;
  }
}

/** One request to a token endpoint, for metrics (`fhirgw_upstream_token_requests_total{kind,outcome}`). */
export interface TokenRequestEvent {
  kind: UpstreamAuthType;
  outcome: 'ok' | 'error';
  /** Set when outcome is error. */
  failure?: CredentialsFailure;
  durationSeconds: number;
}

export interface CredentialsLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}
