import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { UpstreamConfig } from '../../config/types.js';
import { describeTlsFailure, type UpstreamTls } from './tls.js';

/** A request the gateway sends upstream on the client's behalf. */
export interface UpstreamRequest {
  method: string;
  /** Normalized path plus query, relative to the upstream base (e.g. `/Patient?name=x`). */
  path: string;
  /** Exactly the headers to send (see request-headers.ts); framing is the forwarder's. */
  headers: IncomingHttpHeaders;
  /** The body, when the gateway holds it (read to decide, or composed); else none, or the client's stream. */
  body?: Buffer;
  /**
   * The request carries the gateway's own upstream credentials, so a 401 means they were
   * refused: `forward` then writes nothing to the client and resolves with an UpstreamError of
   * kind `credentials_refused` (the upstream's 401 is never passed through). `send` ignores it.
   */
  withhold401?: boolean;
}

/** The upstream's answer, headers already cleaned (hop-by-hop removed, upstream URLs rewritten). */
export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/**
 * Why an exchange with the upstream failed: 504 for a timeout, 502 otherwise.
 *
 * - `timeout`: no answer within upstream.timeout;
 * - `unreachable`: no connection, or it broke (`code` says how);
 * - `tls`: the TLS handshake failed; `message` names the certificate problem (tls.ts);
 * - `credentials_unavailable`: the gateway could not get its upstream credentials (a token);
 *   `code` is the CredentialsFailure, `message` says why (never a secret);
 * - `credentials_refused`: the upstream answered 401 to the gateway's own credentials.
 */
export class UpstreamError extends Error {
  constructor(
    readonly kind: 'timeout' | 'unreachable' | 'tls' | 'credentials_unavailable' | 'credentials_refused',
    readonly code: string,
    message?: string,
  ) {
    super(message ?? (kind === 'timeout' ? 'upstream timeout' : `upstream ${kind === 'unreachable' ? 'unreachable' : kind}: ${code}`));
  }
}

/** A connection-level failure: a TLS handshake failure named as such, else unreachable with its code. */
export function transportError(err: Error & { code?: string }): UpstreamError {
  const tls = describeTlsFailure(err);
  if (tls !== undefined) return new UpstreamError('tls', tls.problem, tls.message);
  return new UpstreamError('unreachable', err.code ?? err.message);
}

/** The upstream's 401 withheld from the client (see UpstreamRequest.withhold401). */
export function credentialsRefusedError(): UpstreamError {
  return new UpstreamError('credentials_refused', 'HTTP 401', "the upstream refused the gateway's credentials (HTTP 401)");
}

/** How a streamed forward ended. Only a failure before the response started can still be answered. */
export type ForwardResult = { ok: true; status: number } | { ok: false; error: UpstreamError; responseStarted: boolean };

/**
 * True when the client's request has a body the forwarder would stream from `req` (it has not
 * been read by the gateway): such a request cannot be sent a second time.
 */
export function streamsClientBody(req: IncomingMessage, request: UpstreamRequest): boolean {
  if (request.body !== undefined) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Sends already-authorized requests to the upstream FHIR server. */
export interface Forwarder {
  /**
   * Streams the request to the upstream (the client's own body stream when `request.body` is
   * absent) and the answer back to `res`, untouched but for its cleaned headers. Resolves when
   * the answer has been written (or failed); never writes an answer of its own on failure.
   */
  forward(req: IncomingMessage, res: ServerResponse, request: UpstreamRequest): Promise<ForwardResult>;
  /**
   * Sends one request and hands back the answer as a stream, for callers that inspect or
   * rewrite it (see buffered-exchange.ts). Rejects with UpstreamError. `timeoutMs` replaces
   * upstream.timeout for this request (the readiness probe's short wait).
   */
  send(request: UpstreamRequest, options?: { timeoutMs?: number }): Promise<UpstreamResponse>;
  close(): void;
}

export interface ForwarderOptions {
  upstream: UpstreamConfig;
  /** Public base URL that replaces the upstream's in Location, Content-Location and Link. */
  publicUrl: string;
  /** upstream.tls as connection options (tls.ts); used when upstream.url is https. */
  tls: UpstreamTls;
}
