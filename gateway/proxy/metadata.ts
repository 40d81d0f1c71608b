import type { IncomingHttpHeaders } from 'node:http';
import { exchangeBuffered, parseJsonBody } from '../upstream/buffered-exchange.js';
import type { UpstreamSender } from '../upstream/upstream-client.js';
import { gatewayCapabilityStatement } from './capability-statement.js';
import { badUpstreamAnswer, upstreamRefusal, type Refusal } from './refusals.js';
import type { Reply } from './respond.js';

/**
 * `GET /metadata` (public, no token): the upstream's CapabilityStatement with the gateway's
 * SMART security block. Always JSON (`_format` is not passed on): the gateway has to edit it.
 * Asked with the gateway's credentials only: nobody's identity goes with a public request.
 */
export async function capabilityStatement(
  upstream: UpstreamSender,
  rawQuery: string,
  headers: IncomingHttpHeaders,
  publicUrl: string,
  limit: number,
): Promise<Reply | Refusal> {
  const query = new URLSearchParams(rawQuery);
  query.delete('_format');
  const path = '/metadata' + (query.size > 0 ? `?${query.toString()}` : '');
  let response;
  try {
    response = await exchangeBuffered(upstream, { method: 'GET', path, headers }, limit);
  } catch (err) {
    return upstreamRefusal(err);
  }
  const statement = response.ok && response.status === 200 ? gatewayCapabilityStatement(parseJsonBody(response.headers, response.bytes), publicUrl) : undefined;
  if (statement === undefined) return badUpstreamAnswer('transient', 'The FHIR server did not return a CapabilityStatement');
  return { status: 200, headers: { 'content-type': 'application/fhir+json; charset=utf-8' }, body: Buffer.from(JSON.stringify(statement)) };
}
