import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessTokenClaims } from '../../authz/smart/token-claims.js';

/** How a proxied request ended, for the audit log and metrics. */
export type DecisionKind = 'allow' | 'deny' | 'error';

/**
 * One request through the gateway, from its arrival to the last byte of its answer: what the
 * request log, the audit log and the metrics read once it is over. The front door creates it;
 * the FHIR proxy fills in what it learns (token, interaction, decision). Never holds a token
 * or a body; the one search it holds (`search`) is for the AuditEvent only.
 *
 * A class with every field set in the constructor, so all exchanges share one shape (V8).
 */
export class Exchange {
  /** process.hrtime.bigint() at arrival. */
  readonly startedAt: bigint;
  /** The path without its query (normalized once the proxy has checked it). */
  path: string;
  claims: AccessTokenClaims | undefined = undefined;
  /** What the proxy understood the request to be. */
  interaction: string | undefined = undefined;
  resourceType: string | undefined = undefined;
  resourceId: string | undefined = undefined;
  /**
   * The search of a search or conditional request, as sent (gateway/proxy/audited-search.ts),
   * for the FHIR AuditEvent. It carries patient data: never logged, never in the audit lines.
   */
  search: string | undefined = undefined;
  decision: DecisionKind | undefined = undefined;
  /** Why (for the audit log; may name resources the client is not told about). */
  reason: string | undefined = undefined;
  /** Set when the upstream failed (timeout, unreachable): in the request log. */
  upstreamError: string | undefined = undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly requestId: string,
    /** The client's address as trusted (X-Forwarded-For only from trusted proxies). */
    readonly clientIp: string,
  ) {
    this.startedAt = process.hrtime.bigint();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.path = q === -1 ? url : url.slice(0, q);
  }

  /** Milliseconds since arrival. */
  elapsedMs(): number {
    return Number(process.hrtime.bigint() - this.startedAt) / 1e6;
  }
}

const exchanges = new WeakMap<IncomingMessage, Exchange>();

export function attachExchange(exchange: Exchange): void {
  exchanges.set(exchange.req, exchange);
}

/** The exchange of a request the front door admitted (the authorization server reads the client IP from it). */
export function exchangeOf(req: IncomingMessage): Exchange {
  const exchange = exchanges.get(req);
  if (!exchange) throw new Error('exchangeOf: request did not come through the front door');
  return exchange;
}
