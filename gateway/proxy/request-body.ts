import type { Context } from 'koa';
import { readBounded } from '../upstream/bounded-read.js';

export type RequestBody =
  | { ok: true; bytes: Buffer; parsed: unknown }
  | { ok: false; status: 400 | 413 | 415; reason: string };

const FORM = 'application/x-www-form-urlencoded';

/**
 * Reads the request body the decision needs (a resource to place in the patient compartment, a
 * batch/transaction Bundle, a form-encoded `_search`). JSON bodies are parsed as JSON, form
 * bodies become URLSearchParams; anything the gateway cannot read is refused rather than
 * forwarded unchecked. The caller forwards `bytes`, never a re-serialization of `parsed`.
 */
export async function readRequestBody(ctx: Context, limit: number): Promise<RequestBody> {
  const encoding = (ctx.get('content-encoding') || 'identity').trim().toLowerCase();
  if (encoding !== 'identity') {
    return { ok: false, status: 415, reason: `the gateway must read this request body and cannot decode Content-Encoding "${encoding}"` };
  }
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > limit) return tooLarge(limit);
  const read = await readBounded(ctx.req, limit);
  if (!read.ok) return tooLarge(limit);
  const { bytes } = read;
  const mediaType = (ctx.get('content-type').split(';')[0] ?? '').trim().toLowerCase();
  if (mediaType === FORM) return { ok: true, bytes, parsed: new URLSearchParams(bytes.toString('utf8')) };
  if (bytes.length === 0) return { ok: false, status: 400, reason: 'this request needs a body the gateway can check, and none was sent' };
  try {
    return { ok: true, bytes, parsed: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch {
    return { ok: false, status: 400, reason: 'the request body is not JSON; the gateway must read it to decide (send application/fhir+json)' };
  }
}

function tooLarge(limit: number): RequestBody {
  return { ok: false, status: 413, reason: `the request body is larger than the ${limit} bytes the gateway inspects (proxy.max_buffered_body)` };
}
