import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import { isAuthorizationServerPath } from '../../authz/oauth/paths.js';
import { isOperationsPath } from '../process/operations.js';
import { resolveClientIp } from './client-ip.js';
import { attachExchange, Exchange } from './exchange.js';
import { hostHeaderProblem } from './host-header.js';
import { refuseMalformedRequest } from './malformed-request.js';
import { requestIdFor } from './request-id.js';

interface FrontDoorRoutes {
  /**
   * /healthz, /readyz, /metrics: answered first, never logged per request. Absent when the admin
   * listener (server.admin_port) serves them: then those paths are FHIR paths like any other.
   */
  operations: ((req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>) | undefined;
  /** The authorization server (Koa): /oauth/* and /.well-known/*. */
  authorizationServer: RequestListener;
  /** Everything else is FHIR. */
  fhir: (exchange: Exchange) => Promise<void>;
}

interface FrontDoorOptions {
  routes: FrontDoorRoutes;
  /** The trusted-proxy set of the current configuration (undefined: trust no X-Forwarded-For). */
  trustedProxies: () => BlockList | undefined;
  /** Called for every admitted request (the request log). */
  onExchange: (exchange: Exchange) => void;
  log: { error(obj: object, msg: string): void };
}

/**
 * The gateway's request listener: gives each request its id, trusted client address and the
 * answer headers every route shares (X-Request-Id, `X-Content-Type-Options: nosniff`), refuses
 * a request with a bad Host whatever its path (RFC 9112 §3.2), then sends it down one of three
 * routes by path. The FHIR route does not go through Koa: the proxy is a plain node:http
 * pipeline (gateway/proxy/pipeline.ts).
 */
export function frontDoor(options: FrontDoorOptions): RequestListener {
  const { routes } = options;
  return (req, res) => {
    const exchange = new Exchange(req, res, requestIdFor(req.headers['x-request-id']), clientIpOf(req, options.trustedProxies()));
    res.setHeader('X-Request-Id', exchange.requestId);
    // Every answer, whichever route writes it (OperationOutcomes, OAuth JSON, discovery, JWKS, the
    // operations endpoints, the upstream's own): a browser must not read JSON as HTML or script.
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const operations = isOperationsPath(exchange.path) ? routes.operations : undefined;
    const badHost = hostHeaderProblem(req);
    if (badHost !== undefined) {
      options.onExchange(exchange);
      refuseMalformedRequest(res, operations === undefined && !isAuthorizationServerPath(exchange.path), badHost);
      return;
    }
    if (operations !== undefined) {
      operations(req, res, exchange.path).catch((err: unknown) => failed(options, res, err));
      return;
    }
    options.onExchange(exchange);
    if (isAuthorizationServerPath(exchange.path)) {
      // Koa reads the client's address from the exchange (the FHIR route is handed it directly).
      attachExchange(exchange);
      routes.authorizationServer(req, res);
      return;
    }
    void routes.fhir(exchange);
  };
}

function clientIpOf(req: IncomingMessage, trusted: BlockList | undefined): string {
  const forwardedFor = req.headers['x-forwarded-for'];
  return resolveClientIp(req.socket.remoteAddress ?? '', typeof forwardedFor === 'string' ? forwardedFor : undefined, trusted);
}

function failed(options: FrontDoorOptions, res: ServerResponse, err: unknown): void {
  options.log.error({ err }, 'operations endpoint failed');
  if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('internal error');
}
