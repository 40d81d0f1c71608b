import type { Context } from 'koa';
import type { ResourceCheck } from '../../authz/smart/access-decision.js';
import { exchangeBuffered, parseJsonBody } from '../upstream/buffered-exchange.js';
import type { Forwarder } from '../upstream/forwarder.js';
import { resourceCheckProblem } from '../../authz/smart/resource-check.js';
import { applyJsonPatch } from '../../authz/smart/json-patch.js';
import { forwardedHeaders } from '../upstream/request-headers.js';

export type StoredResourceCheck =
  | { ok: true; /** The version that was checked (ETag form), when known. */ etag?: string }
  | { ok: false; status: 403 | 502; reason: string; /** For the audit log only (names resources). */ detail: string };

/**
 * `checkCurrentResource`: before an update, patch or delete of `path`, fetch what is stored
 * there and check it, so a token cannot overwrite or delete a resource it could not read.
 * A JSON Patch (`jsonPatch`) is also applied to the stored resource and the result checked.
 * Nothing stored (404/410) passes: there is nothing to protect, and the body check covers what
 * gets written. Any other answer the gateway cannot check refuses the write.
 */
export async function checkStoredResource(ctx: Context, forwarder: Forwarder, path: string, check: ResourceCheck, limit: number, jsonPatch?: unknown): Promise<StoredResourceCheck> {
  const response = await exchangeBuffered(forwarder, { method: 'GET', path, headers: { accept: 'application/fhir+json', ...forwardedHeaders(ctx) } }, limit);
  if (response.ok && (response.status === 404 || response.status === 410)) return { ok: true };
  const stored = response.ok && response.status === 200 ? parseJsonBody(response.headers, response.bytes) : undefined;
  if (!response.ok || stored === undefined) {
    const reason = 'the gateway could not fetch the stored resource to check it, so the write was not forwarded';
    return { ok: false, status: 502, reason, detail: `${reason} (upstream status ${response.status})` };
  }
  const problem = resourceCheckProblem(stored, check);
  if (problem !== undefined) {
    return { ok: false, status: 403, reason: 'the stored resource is outside what this token may change', detail: problem };
  }
  if (jsonPatch !== undefined) {
    // Judge the PATCH by its result: the patched resource must pass the same check.
    let patched: unknown;
    try {
      patched = applyJsonPatch(stored, jsonPatch);
    } catch (err) {
      const reason = 'the gateway could not apply this JSON Patch to check its result';
      return { ok: false, status: 403, reason, detail: `${reason}: ${(err as Error).message}` };
    }
    const afterPatch = resourceCheckProblem(patched, check);
    if (afterPatch !== undefined) return { ok: false, status: 403, reason: 'the patched resource would be outside what this token may change', detail: afterPatch };
  }
  const etag = response.headers.etag;
  if (typeof etag === 'string') return { ok: true, etag };
  const versionId = (stored as { meta?: { versionId?: unknown } }).meta?.versionId;
  return typeof versionId === 'string' ? { ok: true, etag: `W/"${versionId}"` } : { ok: true };
}
