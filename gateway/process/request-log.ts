import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Exchange } from '../http/exchange.js';
import { fixedLogLine } from './fixed-log-line.js';

/**
 * One JSON line per request, written when its answer is over. Only the path is logged, never
 * the query string (search parameters carry patient data), headers, tokens or bodies.
 *
 * Listeners are shared functions (no closure per request): the exchange travels on the response.
 */
export function logEachRequest(log: Logger): (exchange: Exchange) => void {
  // Fixed fields that never hold a secret: written without pino's generic serializer and
  // redaction pass (fixed-log-line.ts), which cost more than the rest of a proxied read.
  const line = fixedLogLine(log, 'request');
  const write = function (this: ServerResponse) {
    const exchange = logged.get(this);
    if (exchange === undefined) return;
    logged.delete(this);
    line({
      req_id: exchange.requestId,
      method: exchange.req.method,
      path: exchange.path,
      status: this.statusCode,
      ms: exchange.elapsedMs(),
      client_id: exchange.claims?.client_id,
      upstream_error: exchange.upstreamError,
    });
  };
  const logged = new WeakMap<ServerResponse, Exchange>();
  return (exchange) => {
    logged.set(exchange.res, exchange);
    // `on`, not `once`: once wraps each listener in a new closure. A response is written once;
    // `write` forgets the exchange the first time, so the second event finds nothing to log.
    exchange.res.on('finish', write);
    exchange.res.on('close', write);
  };
}
