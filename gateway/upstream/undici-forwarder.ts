import type { IncomingHttpHeaders } from 'node:http';
import { PassThrough, Writable } from 'node:stream';
import { Pool, errors as undiciErrors } from 'undici';
import { credentialsRefusedError, streamsClientBody, transportError, UpstreamError, type Forwarder, type ForwarderOptions, type ForwardResult, type UpstreamResponse } from './forwarder.js';
import { withFraming } from './http-proxy-forwarder.js';
import { cleanResponseHeaders, writeUpstreamHead } from './response-headers.js';
import { tlsConnector } from './tls.js';

/**
 * Forwards through undici's connection pool (`upstream.forwarder: undici`): the same contract as
 * the http-proxy forwarder (streaming both ways, the gateway's choice of headers, Location
 * rewritten) with less work per request.
 */
export function createUndiciForwarder(options: ForwarderOptions): Forwarder {
  const target = new URL(options.upstream.url);
  const basePath = target.pathname.replace(/\/+$/, '');
  const upstreamBase = options.upstream.url.replace(/\/+$/, '');
  const timeoutMs = options.upstream.timeout * 1000;
  const pool = new Pool(target.origin, {
    connections: options.upstream.max_sockets,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    // upstream.tls: the CA, client certificate and server name. The server name is the
    // connector's; a Host header would replace it, so none is ever sent (request-headers.ts).
    ...(target.protocol === 'https:' ? { connect: tlsConnector({ ...options.tls.connect, timeout: timeoutMs }) } : {}),
  });

  return {
    forward(req, res, request) {
      const headers = withFraming(request, req);
      const streamsBody = streamsClientBody(req, request);
      let responseStarted = false;
      let withheld = false;
      return pool
        .stream(
          {
            path: basePath + request.path,
            method: req.method as 'GET',
            headers: headers as Record<string, string | string[]>,
            body: request.body ?? (streamsBody ? req : null),
          },
          ({ statusCode, headers: upstreamHeaders }) => {
            if (statusCode === 401 && request.withhold401 === true) {
              // The gateway's credentials were refused: the caller decides; nothing reaches the client.
              withheld = true;
              return discard();
            }
            responseStarted = true;
            const out = { ...upstreamHeaders } as IncomingHttpHeaders;
            cleanResponseHeaders(out, upstreamBase, options.publicUrl);
            writeUpstreamHead(res, statusCode, out);
            return res;
          },
        )
        .then(
          (): ForwardResult => (withheld ? { ok: false, error: credentialsRefusedError(), responseStarted: false } : { ok: true, status: res.statusCode }),
          (err: Error & { code?: string }): ForwardResult => ({ ok: false, error: upstreamError(err), responseStarted: responseStarted || res.headersSent }),
        );
    },

    async send(request, sendOptions) {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (value !== undefined && !['host', 'content-length', 'transfer-encoding', 'expect', 'connection', 'keep-alive'].includes(name)) headers[name] = value;
      }
      if (request.body) headers['content-length'] = String(request.body.length);
      const timeouts = sendOptions?.timeoutMs !== undefined ? { headersTimeout: sendOptions.timeoutMs, bodyTimeout: sendOptions.timeoutMs } : {};
      try {
        const { statusCode, headers: upstreamHeaders, body } = await pool.request({
          path: basePath + request.path,
          method: request.method as 'GET',
          headers,
          body: request.body ?? null,
          ...timeouts,
        });
        const out = { ...upstreamHeaders } as IncomingHttpHeaders;
        cleanResponseHeaders(out, upstreamBase, options.publicUrl);
        // Errors while the body streams (a stalled upstream) surface as UpstreamError on the stream.
        const stream = new PassThrough();
        body.on('error', (err: Error) => stream.destroy(upstreamError(err)));
        body.pipe(stream);
        const response: UpstreamResponse = { status: statusCode, headers: out, body: stream };
        return response;
      } catch (err) {
        throw upstreamError(err as Error);
      }
    },

    close() {
      void pool.close();
    },
  };
}

/** A sink for an answer the client must not see. */
function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

function upstreamError(err: Error & { code?: string }): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const timedOut = err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError;
  return timedOut ? new UpstreamError('timeout', 'ETIMEDOUT') : transportError(err);
}
