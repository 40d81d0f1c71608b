import { Agent, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import httpProxy from 'http-proxy';
import type { Context } from 'koa';
import type { UpstreamConfig } from '../../config/types.js';
import { stripHopByHop } from './hop-by-hop.js';
import { sendOutcomeRaw } from '../proxy/raw-outcome.js';
import { forwardedHeaders } from './request-headers.js';

/** One request the gateway sends upstream and reads the answer of itself (see `send`). */
export interface UpstreamRequest {
  method: string;
  /** Normalized path plus query, relative to the upstream base (e.g. `/Patient?name=x`). */
  path: string;
  headers: IncomingHttpHeaders;
  body?: Buffer;
}

/** The upstream's answer, headers already cleaned (hop-by-hop removed, upstream URLs rewritten). */
export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** Why `send` failed: the caller answers 504 for a timeout, 502 otherwise. */
export class UpstreamError extends Error {
  constructor(
    readonly kind: 'timeout' | 'unreachable',
    readonly code: string,
  ) {
    super(kind === 'timeout' ? 'upstream timeout' : `upstream unreachable: ${code}`);
  }
}

/** Sends already-authorized requests to the upstream FHIR server. */
export interface Forwarder {
  /**
   * Streams the client's request to the upstream and the answer back, untouched but for
   * Location / Content-Location. `upstreamPath` is the normalized path the decision was made on,
   * plus its query string, relative to the upstream base (e.g. `/Patient?name=x`). `body`: the
   * request body, when the gateway already read it to decide (its exact bytes are sent).
   */
  forward(ctx: Context, upstreamPath: string, options?: { body?: Buffer }): Promise<void>;
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

/** Removes the upstream's base URL from a URL that would otherwise reveal it to the client. */
export function rewriteUpstreamUrl(value: string, upstreamBase: string, publicBase: string): string {
  if (value === upstreamBase || value.startsWith(upstreamBase + '/') || value.startsWith(upstreamBase + '?')) {
    return publicBase + value.slice(upstreamBase.length);
  }
  return value;
}

/** What every forwarder does to response headers before the client sees them. */
export function cleanResponseHeaders(headers: IncomingHttpHeaders, upstreamBase: string, publicBase: string): void {
  stripHopByHop(headers);
  for (const name of ['location', 'content-location'] as const) {
    const value = headers[name];
    if (typeof value === 'string') headers[name] = rewriteUpstreamUrl(value, upstreamBase, publicBase);
  }
}

export function createHttpProxyForwarder(options: ForwarderOptions): Forwarder {
  const target = new URL(options.upstream.url);
  const isHttps = target.protocol === 'https:';
  const agentOptions = { keepAlive: true, maxSockets: options.upstream.max_sockets, maxFreeSockets: 64, scheduling: 'lifo' as const };
  const agent = isHttps ? new HttpsAgent(agentOptions) : new Agent(agentOptions);
  const proxy = httpProxy.createProxyServer({
    target: options.upstream.url,
    agent,
    changeOrigin: true,
    xfwd: false,
    ignorePath: true,
  });
  const timeoutMs = options.upstream.timeout * 1000;
  const upstreamBase = options.upstream.url.replace(/\/+$/, '');

  proxy.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage) => {
    proxyReq.removeHeader('authorization');
    proxyReq.removeHeader('cookie');
    for (const name of ['connection', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'upgrade']) {
      proxyReq.removeHeader(name);
    }
    const state = (req as RequestWithForwardState).forwardState;
    if (state) {
      for (const [k, v] of Object.entries(state.extraHeaders)) proxyReq.setHeader(k, v);
      if (state.bodyLength !== undefined) {
        // The body was read to decide on it: send exactly those bytes, framed by their length.
        proxyReq.removeHeader('transfer-encoding');
        proxyReq.setHeader('content-length', String(state.bodyLength));
      }
      proxyReq.setTimeout(timeoutMs, () => {
        state.timedOut = true;
        proxyReq.destroy(new Error('upstream timeout'));
      });
    }
  });

  proxy.on('proxyRes', (proxyRes: IncomingMessage) => {
    cleanResponseHeaders(proxyRes.headers, upstreamBase, options.publicUrl);
  });

  return {
    forward(ctx, upstreamPath, forwardOptions = {}) {
      ctx.respond = false;
      const req = ctx.req as RequestWithForwardState;
      const body = forwardOptions.body;
      const state: ForwardState = { timedOut: false, extraHeaders: forwardedHeaders(ctx), ...(body ? { bodyLength: body.length } : {}) };
      req.forwardState = state;
      return new Promise<void>((resolve) => {
        ctx.res.once('close', resolve);
        ctx.res.once('finish', resolve);
        const proxyOptions = { target: upstreamBase + upstreamPath, ...(body ? { buffer: Readable.from([body]) } : {}) };
        proxy.web(ctx.req, ctx.res, proxyOptions, (err: Error & { code?: string }) => {
          const status = state.timedOut ? 504 : 502;
          ctx.state.upstreamError = state.timedOut ? 'timeout' : (err.code ?? err.message);
          if (ctx.res.headersSent) {
            ctx.res.destroy();
          } else {
            sendOutcomeRaw(
              ctx.res,
              status,
              state.timedOut ? 'timeout' : 'transient',
              state.timedOut ? 'The FHIR server did not answer in time' : 'The FHIR server could not be reached',
            );
          }
          resolve();
        });
      });
    },

    send(request) {
      const requestFn = isHttps ? httpsRequest : httpRequest;
      const headers: IncomingHttpHeaders = { ...request.headers, host: target.host };
      if (request.body) headers['content-length'] = String(request.body.length);
      return new Promise<UpstreamResponse>((resolve, reject) => {
        let timedOut = false;
        const upstreamReq = requestFn(upstreamBase + request.path, { method: request.method, headers, agent }, (res) => {
          const responseHeaders = { ...res.headers };
          cleanResponseHeaders(responseHeaders, upstreamBase, options.publicUrl);
          resolve({ status: res.statusCode ?? 502, headers: responseHeaders, body: res });
        });
        // The socket timeout stays armed while the response body is read, so a stalled body ends too.
        upstreamReq.setTimeout(timeoutMs, () => {
          timedOut = true;
          upstreamReq.destroy(new UpstreamError('timeout', 'ETIMEDOUT'));
        });
        upstreamReq.on('error', (err: Error & { code?: string }) => {
          reject(err instanceof UpstreamError ? err : timedOut ? new UpstreamError('timeout', 'ETIMEDOUT') : new UpstreamError('unreachable', err.code ?? err.message));
        });
        upstreamReq.end(request.body);
      });
    },

    close() {
      proxy.close();
      agent.destroy();
    },
  };
}

interface ForwardState {
  timedOut: boolean;
  extraHeaders: Record<string, string>;
  bodyLength?: number;
}
type RequestWithForwardState = IncomingMessage & { forwardState?: ForwardState };
