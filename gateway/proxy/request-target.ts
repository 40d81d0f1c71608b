import { normalizePath } from '../../authz/smart/fhir-request.js';
import { denied, type Refusal } from './refusals.js';

/** The request target, split without decoding, and the normalized path the decision is made on. */
export interface RequestTarget {
  rawPath: string;
  rawQuery: string;
  /** Normalized (dot segments, duplicate slashes and encodings the upstream would read differently refused). */
  path: string;
}

/** Stage 1: is the path one the gateway can decide on? Anything ambiguous is 400, never forwarded. */
export function requestTarget(url: string): RequestTarget | Refusal {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  const normalized = normalizePath(rawPath);
  if (!normalized.ok) return denied({ status: 400, reason: `The request path is not acceptable: ${normalized.reason}` });
  return { rawPath, rawQuery, path: normalized.path };
}

/** Splits a target (e.g. a signed paging link's original search) into path and query, undecoded. */
export function splitTarget(url: string): { rawPath: string; rawQuery: string } {
  const q = url.indexOf('?');
  return q < 0 ? { rawPath: url, rawQuery: '' } : { rawPath: url.slice(0, q), rawQuery: url.slice(q + 1) };
}
