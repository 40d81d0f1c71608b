import type { Context } from 'koa';
import { exchangeBuffered, parseJsonBody } from '../upstream/buffered-exchange.js';
import { gatewayCapabilityStatement } from './capability-statement.js';
import { UpstreamError, type Forwarder } from '../upstream/forwarder.js';
import { sendOutcome } from './operation-outcome.js';
import { forwardedHeaders } from '../upstream/request-headers.js';

/**
 * `GET /metadata` (public, no token): the upstream's CapabilityStatement with the gateway's
 * SMART security block. Always JSON (`_format` is not passed on): the gateway has to edit it.
 */
export async function serveCapabilityStatement(ctx: Context, forwarder: Forwarder, rawQuery: string, publicUrl: string, limit: number): Promise<{ status: number; reason: string }> {
  const query = new URLSearchParams(rawQuery);
  query.delete('_format');
  const path = '/metadata' + (query.size > 0 ? `?${query.toString()}` : '');
  let response;
  try {
    response = await exchangeBuffered(forwarder, { method: 'GET', path, headers: { accept: 'application/fhir+json', ...forwardedHeaders(ctx) } }, limit);
  } catch (err) {
    const timeout = err instanceof UpstreamError && err.kind === 'timeout';
    const reason = timeout ? 'The FHIR server did not answer in time' : 'The FHIR server could not be reached';
    sendOutcome(ctx, timeout ? 504 : 502, timeout ? 'timeout' : 'transient', reason);
    return { status: timeout ? 504 : 502, reason };
  }
  const statement = response.ok && response.status === 200 ? gatewayCapabilityStatement(parseJsonBody(response.headers, response.bytes), publicUrl) : undefined;
  if (statement === undefined) {
    const reason = 'The FHIR server did not return a CapabilityStatement';
    sendOutcome(ctx, 502, 'transient', reason);
    return { status: 502, reason };
  }
  ctx.status = 200;
  ctx.type = 'application/fhir+json; charset=utf-8';
  ctx.body = JSON.stringify(statement);
  return { status: 200, reason: 'capability statement' };
}
