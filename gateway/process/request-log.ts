import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Exchange } from '../http/exchange.js';

/**
 * One JSON line per request, written when its answer is over. Only the path is logged, never
 * the query string (search parameters carry patient data), headers, tokens or bodies.
 *
 * Listeners are shared functions (no closure per request): the exchange travels on the response.
 */
export function logEachRequest(log: Logger): (exchange: Exchange) => void {
  const write = function (this: ServerResponse) {
    const exchange = logged.get(this);
    if (exchange === undefined) return;
    logged.delete(this);
    log.info(
      {
        req_id: exchange.requestId,
        method: exchange.req.method,
        path: exchange.path,
        status: this.statusCode,
        ms: exchange.elapsedMs(),
        client_id: exchange.claims?.client_id,
        upstream_error: exchange.upstreamError,
      },
      'request',
    );
  };
  const logged = new WeakMap<ServerResponse, Exchange>();
  return (exchange) => {
    logged.set(exchange.res, exchange);
    exchange.res.once('finish', write);
    exchange.res.once('close', write);
  };
}
