import { Agent, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import httpProxy from 'http-proxy';
import type { Context } from 'koa';
import type { UpstreamConfig } from '../config/types.js';
import { stripHopByHop } from './hop-by-hop.js';
import { sendOutcomeRaw } from './raw-outcome.js';

/** Sends one already-authorized request to the upstream FHIR server and streams the answer back. */
export interface Forwarder {
  /**
   * `upstreamPath` is the normalized path the decision was made on, plus its query string,
   * relative to the upstream base (e.g. `/Patient?name=x`).
   */
  forward(ctx: Context, upstreamPath: string): Promise<void>;
  close(): void;
}

export interface ForwarderOptions {
  upstream: UpstreamConfig;
  /** Public base URL that replaces the upstream's in Location / Content-Location. */
  publicUrl: string;
}

/** Removes the upstream's base URL from headers that would otherwise reveal it to the client. */
export function rewriteUpstreamUrl(value: string, upstreamBase: string, publicBase: string): string {
  if (value === upstreamBase || value.startsWith(upstreamBase + '/') || value.startsWith(upstreamBase + '?')) {
    return publicBase + value.slice(upstreamBase.length);
  }
  return value;
}

export function createHttpProxyForwarder(options: ForwarderOptions): Forwarder {
  const target = new URL(options.upstream.url);
  const agentOptions = { keepAlive: true, maxSockets: options.upstream.max_sockets, maxFreeSockets: 64, scheduling: 'lifo' as const };
  const agent = target.protocol === 'https:' ? new HttpsAgent(agentOptions) : new Agent(agentOptions);
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
      proxyReq.setTimeout(timeoutMs, () => {
        state.timedOut = true;
        proxyReq.destroy(new Error('upstream timeout'));
      });
    }
  });

  proxy.on('proxyRes', (proxyRes: IncomingMessage) => {
    stripHopByHop(proxyRes.headers);
    for (const name of ['location', 'content-location'] as const) {
      const value = proxyRes.headers[name];
      if (typeof value === 'string') proxyRes.headers[name] = rewriteUpstreamUrl(value, upstreamBase, options.publicUrl);
    }
  });

  return {
    forward(ctx, upstreamPath) {
      ctx.respond = false;
      const req = ctx.req as RequestWithForwardState;
      const state: ForwardState = { timedOut: false, extraHeaders: forwardedHeaders(ctx) };
      req.forwardState = state;
      return new Promise<void>((resolve) => {
        ctx.res.once('close', resolve);
        ctx.res.once('finish', resolve);
        proxy.web(ctx.req, ctx.res, { target: upstreamBase + upstreamPath }, (err: Error & { code?: string }) => {
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
    close() {
      proxy.close();
      agent.destroy();
    },
  };
}

interface ForwardState {
  timedOut: boolean;
  extraHeaders: Record<string, string>;
}
type RequestWithForwardState = IncomingMessage & { forwardState?: ForwardState };

/** X-Forwarded-* describe the client's hop to us; any values the client sent are replaced, not trusted. */
function forwardedHeaders(ctx: Context): Record<string, string> {
  const headers: Record<string, string> = {
    'x-forwarded-for': ctx.ip,
    'x-forwarded-proto': ctx.protocol,
    'x-forwarded-host': ctx.get('host'),
  };
  const requestId = ctx.state.requestId as string | undefined;
  if (requestId) headers['x-request-id'] = requestId;
  return headers;
}
