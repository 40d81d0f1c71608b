import type { IncomingHttpHeaders } from 'node:http';
import { readBounded } from './bounded-read.js';
import type { Forwarder, UpstreamRequest } from './forwarder.js';

type BufferedResponse =
  | { ok: true; status: number; headers: IncomingHttpHeaders; bytes: Buffer }
  | { ok: false; tooLarge: true; status: number };

/**
 * Sends a request through any Forwarder and reads the whole answer, up to `limit` bytes, for
 * callers that must look at it before the client does. Asks for an unencoded body (the gateway
 * parses it); rejects with UpstreamError like `send`.
 */
export async function exchangeBuffered(forwarder: Forwarder, request: UpstreamRequest, limit: number): Promise<BufferedResponse> {
  const response = await forwarder.send({ ...request, headers: { ...request.headers, 'accept-encoding': 'identity' } });
  const read = await readBounded(response.body, limit);
  if (!read.ok) return { ok: false, tooLarge: true, status: response.status };
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
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
