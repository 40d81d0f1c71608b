import type { IncomingHttpHeaders } from 'node:http';
import { PassThrough } from 'node:stream';
import { Pool, errors as undiciErrors } from 'undici';
import { cleanResponseHeaders, UpstreamError, type Forwarder, type ForwarderOptions, type UpstreamResponse } from './forwarder.js';
import { sendOutcomeRaw } from '../proxy/raw-outcome.js';
import { upstreamRequestHeaders } from './request-headers.js';

/**
 * Forwards through undici's connection pool: the same contract as the http-proxy forwarder
 * (streaming both ways, hop-by-hop headers dropped, Authorization and cookies not forwarded,
 * X-Forwarded-* set, Location rewritten, 502/504 as OperationOutcome) with less work per request.
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
  });

  function classify(err: Error & { code?: string }): UpstreamError {
    if (err instanceof UpstreamError) return err;
    const timedOut = err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError;
    return new UpstreamError(timedOut ? 'timeout' : 'unreachable', timedOut ? 'ETIMEDOUT' : (err.code ?? err.message));
  }

  return {
    forward(ctx, upstreamPath, forwardOptions = {}) {
      ctx.respond = false;
      const req = ctx.req;
      const res = ctx.res;
      const headers = upstreamRequestHeaders(ctx);
      const buffered = forwardOptions.body;
      const streamsBody = !buffered && (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined);
      // Framing: the exact length of bytes the gateway read, or the client's own length when streaming.
      if (buffered) headers['content-length'] = String(buffered.length);
      else if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
      return new Promise<void>((resolve) => {
        let responded = false;
        pool
          .stream(
            {
              path: basePath + upstreamPath,
              method: req.method as 'GET',
              headers: headers as Record<string, string | string[]>,
              body: buffered ?? (streamsBody ? req : null),
            },
            ({ statusCode, headers: upstreamHeaders }) => {
              responded = true;
              const out = { ...upstreamHeaders } as IncomingHttpHeaders;
              cleanResponseHeaders(out, upstreamBase, options.publicUrl);
              delete out['transfer-encoding'];
              res.writeHead(statusCode, out);
              return res;
            },
          )
          .then(
            () => resolve(),
            (err: Error & { code?: string }) => {
              const failure = classify(err);
              ctx.state.upstreamError = failure.kind === 'timeout' ? 'timeout' : failure.code;
              if (responded || res.headersSent) {
                res.destroy();
              } else {
                sendOutcomeRaw(
                  res,
                  failure.kind === 'timeout' ? 504 : 502,
                  failure.kind === 'timeout' ? 'timeout' : 'transient',
                  failure.kind === 'timeout' ? 'The FHIR server did not answer in time' : 'The FHIR server could not be reached',
                );
              }
              resolve();
            },
          );
      });
    },

    async send(request) {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (value !== undefined && !['host', 'content-length', 'transfer-encoding', 'expect', 'connection', 'keep-alive'].includes(name)) headers[name] = value;
      }
      if (request.body) headers['content-length'] = String(request.body.length);
      try {
        const { statusCode, headers: upstreamHeaders, body } = await pool.request({
          path: basePath + request.path,
          method: request.method as 'GET',
          headers,
          body: request.body ?? null,
        });
        const out = { ...upstreamHeaders } as IncomingHttpHeaders;
        cleanResponseHeaders(out, upstreamBase, options.publicUrl);
        delete out['transfer-encoding'];
        // Errors while the body streams (a stalled upstream) surface as UpstreamError on the stream.
        const stream = new PassThrough();
        body.on('error', (err: Error) => stream.destroy(classify(err)));
        body.pipe(stream);
        const response: UpstreamResponse = { status: statusCode, headers: out, body: stream };
        return response;
      } catch (err) {
        throw classify(err as Error);
      }
    },

    close() {
      void pool.close();
    },
  };
}
