import type { IncomingHttpHeaders } from 'node:http';
import { readBounded } from './bounded-read.js';
import type { UpstreamRequest } from './forwarder.js';
import type { OnBehalfOf, UpstreamSender } from './upstream-client.js';

type BufferedResponse =
  | { ok: true; status: number; headers: IncomingHttpHeaders; bytes: Buffer }
  | { ok: false; tooLarge: true; status: number };

/**
 * Sends a request (with credentials, and the identity of `onBehalfOf` when given) and reads the
 * whole answer, up to `limit` bytes, for callers that must look at it before the client does.
 * Asks for an unencoded body (the gateway parses it); rejects with UpstreamError like `send`.
 */
export async function exchangeBuffered(upstream: UpstreamSender, request: UpstreamRequest, limit: number, onBehalfOf?: OnBehalfOf): Promise<BufferedResponse> {
  const response = await upstream.send({ ...request, headers: { ...request.headers, 'accept-encoding': 'identity' } }, onBehalfOf);
  const read = await readBounded(response.body, limit);
  if (!read.ok) {
    // The rest of an answer too large to inspect is of no use: free the upstream connection.
    response.body.destroy();
    return { ok: false, tooLarge: true, status: response.status };
  }
  return { ok: true, status: response.status, headers: response.headers, bytes: read.bytes };
}

/** Whether the Content-Type says JSON (`application/json`, `application/fhir+json`, ...). */
export function isJsonMediaType(headers: IncomingHttpHeaders): boolean {
  const mediaType = (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return mediaType.endsWith('json');
}

/** The JSON a response carries, or undefined when it is not JSON (by media type and by parse). */
export function parseJsonBody(headers: IncomingHttpHeaders, bytes: Buffer): unknown {
  if (!isJsonMediaType(headers) || bytes.length === 0) return undefined;
  return parseJsonText(bytes.toString('utf8'));
}

/** The JSON a text holds, or undefined when it is not JSON. */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
