import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { UpstreamConfig } from '../../config/types.js';

/** A request the gateway sends upstream on the client's behalf. */
export interface UpstreamRequest {
  method: string;
  /** Normalized path plus query, relative to the upstream base (e.g. `/Patient?name=x`). */
  path: string;
  /** Exactly the headers to send (see request-headers.ts); framing is the forwarder's. */
  headers: IncomingHttpHeaders;
  /** The body, when the gateway holds it (read to decide, or composed); else none, or the client's stream. */
  body?: Buffer;
}

/** The upstream's answer, headers already cleaned (hop-by-hop removed, upstream URLs rewritten). */
export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** Why an exchange with the upstream failed: the caller answers 504 for a timeout, 502 otherwise. */
export class UpstreamError extends Error {
  constructor(
    readonly kind: 'timeout' | 'unreachable',
    readonly code: string,
  ) {
    super(kind === 'timeout' ? 'upstream timeout' : `upstream unreachable: ${code}`);
  }
}

/** How a streamed forward ended. Only a failure before the response started can still be answered. */
export type ForwardResult = { ok: true; status: number } | { ok: false; error: UpstreamError; responseStarted: boolean };

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
   * rewrite it (see buffered-exchange.ts). Rejects with UpstreamError.
   */
  send(request: UpstreamRequest): Promise<UpstreamResponse>;
  close(): void;
}

export interface ForwarderOptions {
  upstream: UpstreamConfig;
  /** Public base URL that replaces the upstream's in Location / Content-Location. */
  publicUrl: string;
}
