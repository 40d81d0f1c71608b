import { Agent, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import httpProxy from 'http-proxy';
import { credentialsRefusedError, transportError, UpstreamError, type Forwarder, type ForwarderOptions, type ForwardResult, type UpstreamRequest, type UpstreamResponse } from './forwarder.js';
import { cleanResponseHeaders, writeUpstreamHead } from './response-headers.js';

/** What one forward needs inside http-proxy's hooks, which only see the request objects. */
interface ForwardState {
  timedOut: boolean;
  headers: IncomingHttpHeaders;
  /** Set when a 401 must not reach the client (UpstreamRequest.withhold401): called instead of writing it. */
  onUnauthorized: (() => void) | undefined;
}
type RequestWithForwardState = IncomingMessage & { forwardState?: ForwardState };

/** Forwards with node:http's agent through http-proxy (`upstream.forwarder: http-proxy`). */
export function createHttpProxyForwarder(options: ForwarderOptions): Forwarder {
  const target = new URL(options.upstream.url);
  const isHttps = target.protocol === 'https:';
  const agentOptions = { keepAlive: true, maxSockets: options.upstream.max_sockets, maxFreeSockets: 64, scheduling: 'lifo' as const };
  // upstream.tls: the CA, client certificate and server name (the agent's servername wins over the Host header's).
  const agent = isHttps ? new HttpsAgent({ ...options.tls.agentOptions, ...agentOptions }) : new Agent(agentOptions);
  const proxy = httpProxy.createProxyServer({ target: options.upstream.url, agent, changeOrigin: true, xfwd: false, ignorePath: true });
  const timeoutMs = options.upstream.timeout * 1000;
  const upstreamBase = options.upstream.url.replace(/\/+$/, '');

  proxy.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage) => {
    const state = (req as RequestWithForwardState).forwardState;
    if (!state) return;
    // http-proxy copied every client header: send exactly the ones the gateway chose instead.
    for (const name of proxyReq.getHeaderNames()) if (name !== 'host') proxyReq.removeHeader(name);
    for (const [name, value] of Object.entries(state.headers)) if (value !== undefined) proxyReq.setHeader(name, value);
    proxyReq.setTimeout(timeoutMs, () => {
      state.timedOut = true;
      proxyReq.destroy(new Error('upstream timeout'));
    });
  });
  // Every forward writes its own response (selfHandleResponse): http-proxy's own writes would put
  // the client's Connection header on the response (its setConnection pass), and cannot drop a 401.
  proxy.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse) => {
    const state = (req as RequestWithForwardState).forwardState;
    if (!state) return;
    cleanResponseHeaders(proxyRes.headers, upstreamBase, options.publicUrl);
    if (proxyRes.statusCode === 401 && state.onUnauthorized !== undefined) {
      proxyRes.resume();
      state.onUnauthorized();
      return;
    }
    writeUpstreamHead(res, proxyRes.statusCode ?? 502, proxyRes.headers, proxyRes.statusMessage);
    proxyRes.pipe(res);
  });

  return {
    forward(req, res, request) {
      const state: ForwardState = { timedOut: false, headers: withFraming(request, req), onUnauthorized: undefined };
      (req as RequestWithForwardState).forwardState = state;
      return new Promise<ForwardResult>((resolve) => {
        const done = () => resolve({ ok: true, status: res.statusCode });
        res.once('close', done);
        res.once('finish', done);
        if (request.withhold401 === true) {
          state.onUnauthorized = () => {
            res.off('close', done);
            res.off('finish', done);
            resolve({ ok: false, error: credentialsRefusedError(), responseStarted: false });
          };
        }
        const proxyOptions: httpProxy.ServerOptions = { target: upstreamBase + request.path, selfHandleResponse: true };
        if (request.body) proxyOptions.buffer = Readable.from([request.body]);
        proxy.web(req, res as ServerResponse, proxyOptions, (err: Error & { code?: string }) => {
          res.off('close', done);
          res.off('finish', done);
          const error = state.timedOut ? new UpstreamError('timeout', 'ETIMEDOUT') : transportError(err);
          resolve({ ok: false, error, responseStarted: res.headersSent });
        });
      });
    },

    send(request, sendOptions) {
      const requestFn = isHttps ? httpsRequest : httpRequest;
      const headers: IncomingHttpHeaders = { ...request.headers, host: target.host };
      if (request.body) headers['content-length'] = String(request.body.length);
      const sendTimeoutMs = sendOptions?.timeoutMs ?? timeoutMs;
      return new Promise<UpstreamResponse>((resolve, reject) => {
        let timedOut = false;
        const upstreamReq = requestFn(upstreamBase + request.path, { method: request.method, headers, agent }, (res) => {
          const responseHeaders = { ...res.headers };
          cleanResponseHeaders(responseHeaders, upstreamBase, options.publicUrl);
          resolve({ status: res.statusCode ?? 502, headers: responseHeaders, body: res });
        });
        // The socket timeout stays armed while the response body is read, so a stalled body ends too.
        upstreamReq.setTimeout(sendTimeoutMs, () => {
          timedOut = true;
          upstreamReq.destroy(new UpstreamError('timeout', 'ETIMEDOUT'));
        });
        upstreamReq.on('error', (err: Error & { code?: string }) => {
          reject(err instanceof UpstreamError ? err : timedOut ? new UpstreamError('timeout', 'ETIMEDOUT') : transportError(err));
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

/**
 * Framing for the bytes actually sent: the exact length of a body the gateway read, else the
 * client's own Content-Length (or chunked, which node chooses when there is neither).
 */
export function withFraming(request: UpstreamRequest, req: IncomingMessage): IncomingHttpHeaders {
  if (request.body) return { ...request.headers, 'content-length': String(request.body.length) };
  const length = req.headers['content-length'];
  return length !== undefined ? { ...request.headers, 'content-length': length } : request.headers;
}
