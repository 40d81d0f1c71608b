import type { IncomingMessage } from 'node:http';
import { readBounded } from '../upstream/bounded-read.js';
import { denied, type Refusal } from './refusals.js';

/** The body as the client sent it (forwarded as these exact bytes) and as the decision reads it. */
export interface RequestBody {
  bytes: Buffer;
  parsed: unknown;
}

const FORM = 'application/x-www-form-urlencoded';

/**
 * Reads the request body the decision needs (a resource to place in the patient compartment, a
 * batch/transaction Bundle, a form-encoded `_search`). JSON bodies are parsed as JSON, form
 * bodies become URLSearchParams; anything the gateway cannot read is refused rather than
 * forwarded unchecked. The caller forwards `bytes`, never a re-serialization of `parsed`.
 */
export async function readRequestBody(req: IncomingMessage, limit: number): Promise<RequestBody | Refusal> {
  const encoding = (req.headers['content-encoding'] || 'identity').trim().toLowerCase();
  if (encoding !== 'identity') {
    return refuse(415, `the gateway must read this request body and cannot decode Content-Encoding "${encoding}"`);
  }
  const declared = Number(req.headers['content-length'] || '0');
  if (declared > limit) return tooLarge(limit);
  const read = await readBounded(req, limit);
  if (!read.ok) return tooLarge(limit);
  const { bytes } = read;
  const mediaType = ((req.headers['content-type'] ?? '').split(';')[0] ?? '').trim().toLowerCase();
  if (mediaType === FORM) return { bytes, parsed: new URLSearchParams(bytes.toString('utf8')) };
  if (bytes.length === 0) return refuse(400, 'this request needs a body the gateway can check, and none was sent');
  try {
    return { bytes, parsed: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch {
    return refuse(400, 'the request body is not JSON; the gateway must read it to decide (send application/fhir+json)');
  }
}

function refuse(status: 400 | 413 | 415, reason: string): Refusal {
  return denied({ status, reason: `The request body cannot be accepted: ${reason}` });
}

/** The rest of the body is left unread: the answer closes the connection once the client has read it. */
function tooLarge(limit: number): Refusal {
  return { ...refuse(413, `the request body is larger than the ${limit} bytes the gateway inspects (proxy.max_buffered_body)`), closesConnection: true };
}
