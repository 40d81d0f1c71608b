/**
 * The one way the gateway talks to its upstream: proxied requests, its own requests (/metadata,
 * stored-resource checks, the readiness probe) and those other parts of the gateway make (the
 * patient picker's searches, AuditEvents sent there). Each request gets, in this order:
 *
 *   1. the strip step: client-sent headers with an identity or credential name are removed,
 *      whatever is configured (identity.ts);
 *   2. the identity of the user it is made for, when one is given and upstream.identity asks;
 *   3. the gateway's own credentials (upstream.auth), last, so nothing can replace them;
 *
 * and goes out through the forwarder, whose connections carry upstream.tls. A 401 to the
 * gateway's credentials is never passed on: a renewable credential (a token) is dropped and the
 * request sent once more with a new one when the gateway can send it again (it holds the body,
 * or there is none); otherwise, or when the second answer is a 401 too, the request fails with
 * UpstreamError `credentials_refused`. Failing to get credentials at all is UpstreamError
 * `credentials_unavailable`, whose message says why.
 *
 * With `auth.type: none` and identity off, a request costs the strip step and nothing else: no
 * await and no allocation of its own.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { UpstreamCredentialsError, type UpstreamCredentials } from './credentials/upstream-credentials.js';
import { credentialsRefusedError, streamsClientBody, UpstreamError, type Forwarder, type ForwardResult, type UpstreamRequest, type UpstreamResponse } from './forwarder.js';
import type { IdentityClaims, UpstreamIdentity } from './identity.js';

/** Whom a request is made for: the verified access token and its claims (the identity sent upstream). */
export interface OnBehalfOf {
  claims: IdentityClaims;
  accessToken: string;
}

/** Why /readyz counts the upstream as not ready. */
export type UpstreamReadiness = { ok: true } | { ok: false; problem: 'unreachable' | 'tls' | 'credentials'; reason: string };

/** What callers that only send (and read the answer) need: see buffered-exchange.ts. */
export interface UpstreamSender {
  /**
   * Sends one request and hands back the answer as a stream. Rejects with UpstreamError. The
   * request's `headers` object is the client's to change (the strip step works in place): pass
   * one built for this request.
   */
  send(request: UpstreamRequest, onBehalfOf?: OnBehalfOf, options?: { timeoutMs?: number }): Promise<UpstreamResponse>;
}

export interface UpstreamClient extends UpstreamSender {
  /**
   * Streams a client's request upstream and the answer back (see Forwarder.forward), with
   * identity and credentials. Never writes an answer of its own: failures come back in the
   * result, credentials problems as UpstreamError `credentials_unavailable` / `credentials_refused`.
   */
  forward(req: IncomingMessage, res: ServerResponse, request: UpstreamRequest, onBehalfOf?: OnBehalfOf): Promise<ForwardResult>;
  /**
   * For /readyz: credentials can be had (the last attempt did not fail) and `HEAD /metadata`
   * with them and upstream.tls gets an HTTP answer within `timeoutMs` (any status but a 401 to
   * the gateway's credentials: the FHIR server's business).
   */
  readiness(timeoutMs: number): Promise<UpstreamReadiness>;
  close(): Promise<void>;
}

export interface UpstreamClientOptions {
  forwarder: Forwarder;
  credentials: UpstreamCredentials;
  identity: UpstreamIdentity;
}

export function createUpstreamClient(options: UpstreamClientOptions): UpstreamClient {
  const { forwarder, credentials, identity } = options;
  /** Nothing to add and nothing to renew: the forwarder's answer is passed on as it is. */
  const anonymous = credentials.kind === 'none';

  async function withIdentity(request: UpstreamRequest, onBehalfOf: OnBehalfOf | undefined): Promise<void> {
    if (identity.addsHeaders && onBehalfOf !== undefined) Object.assign(request.headers, await identity.headersFor(onBehalfOf.claims, onBehalfOf.accessToken));
  }

  async function authorize(): Promise<Readonly<Record<string, string>>> {
    try {
      return await credentials.authorize();
    } catch (err) {
      throw credentialsUnavailable(err);
    }
  }

  async function forwardWithCredentials(req: IncomingMessage, res: ServerResponse, request: UpstreamRequest, onBehalfOf: OnBehalfOf | undefined): Promise<ForwardResult> {
    await withIdentity(request, onBehalfOf);
    if (anonymous) return forwarder.forward(req, res, request);
    // A body streamed from the client is gone once sent: such a request is not sent twice.
    const canResend = credentials.renewable && !streamsClientBody(req, request);
    for (let attempt = 1; ; attempt++) {
      let added: Readonly<Record<string, string>>;
      try {
        added = await authorize();
      } catch (err) {
        return { ok: false, error: err as UpstreamError, responseStarted: false };
      }
      const result = await forwarder.forward(req, res, { ...request, headers: { ...request.headers, ...added }, withhold401: true });
      if (result.ok || result.error.kind !== 'credentials_refused') return result;
      // Dropped even when not resent, so the next request gets a new token.
      credentials.refused(added);
      if (!canResend || attempt === 2) return result;
    }
  }

  async function sendWithCredentials(request: UpstreamRequest, onBehalfOf: OnBehalfOf | undefined, sendOptions: { timeoutMs?: number } | undefined): Promise<UpstreamResponse> {
    await withIdentity(request, onBehalfOf);
    if (anonymous) return forwarder.send(request, sendOptions);
    for (let attempt = 1; ; attempt++) {
      const added = await authorize();
      const response = await forwarder.send({ ...request, headers: { ...request.headers, ...added } }, sendOptions);
      if (response.status !== 401) return response;
      response.body.resume();
      credentials.refused(added);
      // send() always holds its body: a renewable credential gets its one retry.
      if (!credentials.renewable || attempt === 2) throw credentialsRefusedError();
    }
  }

  const client: UpstreamClient = {
    forward(req, res, request, onBehalfOf) {
      identity.strip(request.headers);
      if (anonymous && !identity.addsHeaders) return forwarder.forward(req, res, request);
      return forwardWithCredentials(req, res, request, onBehalfOf);
    },

    send(request, onBehalfOf, sendOptions) {
      identity.strip(request.headers);
      if (anonymous && !identity.addsHeaders) return forwarder.send(request, sendOptions);
      return sendWithCredentials(request, onBehalfOf, sendOptions);
    },

    async readiness(timeoutMs) {
      const status = credentials.status();
      if (!status.ok) return { ok: false, problem: 'credentials', reason: status.reason };
      const probe = client.send({ method: 'HEAD', path: '/metadata', headers: {} }, undefined, { timeoutMs }).then(
        (response): UpstreamReadiness => {
          response.body.resume();
          return { ok: true };
        },
        (err: unknown): UpstreamReadiness => {
          const error = err instanceof UpstreamError ? err : new UpstreamError('unreachable', 'error');
          const problem = error.kind === 'tls' ? 'tls' : error.kind === 'credentials_refused' || error.kind === 'credentials_unavailable' ? 'credentials' : 'unreachable';
          return { ok: false, problem, reason: error.message };
        },
      );
      // A token request may take up to upstream.timeout: a probe does not wait that long.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<UpstreamReadiness>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, problem: 'unreachable', reason: `no answer from the upstream (or its token endpoint) within ${timeoutMs} ms` }), timeoutMs + 100);
      });
      try {
        return await Promise.race([probe, late]);
      } finally {
        clearTimeout(timer);
      }
    },

    async close() {
      forwarder.close();
      await credentials.close();
    },
  };
  return client;
}

/** A failure to get credentials, as the UpstreamError the callers handle. */
function credentialsUnavailable(err: unknown): UpstreamError {
  if (err instanceof UpstreamCredentialsError) return new UpstreamError('credentials_unavailable', err.failure, err.message);
  return new UpstreamError('credentials_unavailable', 'invalid_response', 'getting upstream credentials failed');
}
