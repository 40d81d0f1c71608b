import type { IncomingHttpHeaders } from 'node:http';
import type { ResourceCheck } from '../../authz/smart/access-decision.js';
import { applyJsonPatch } from '../../authz/smart/json-patch.js';
import { resourceCheckProblem } from '../../authz/smart/resource-check.js';
import { exchangeBuffered, parseJsonBody } from '../upstream/buffered-exchange.js';
import type { OnBehalfOf, UpstreamSender } from '../upstream/upstream-client.js';
import { badUpstreamAnswer, denied, upstreamRefusal, type Refusal } from './refusals.js';

/** The stored resource passed the check; `etag` is the version that was checked (ETag form), when known. */
interface StoredResourceChecked {
  etag: string | undefined;
}

/**
 * Stage 7 (when the decision says `checkCurrentResource`): before an update, patch or delete of
 * `path`, fetch what is stored there and check it, so a token cannot overwrite or delete a
 * resource it could not read. A JSON Patch (`jsonPatch`) is also applied to the stored resource
 * and the result checked. Nothing stored (404/410) passes: there is nothing to protect, and the
 * body check covers what gets written. Any other answer the gateway cannot check refuses the write.
 * The fetch is made for the token's user (its identity goes along, as with the write itself).
 */
export async function checkStoredResource(
  upstream: UpstreamSender,
  request: { path: string; headers: IncomingHttpHeaders; onBehalfOf: OnBehalfOf },
  check: ResourceCheck,
  limit: number,
  jsonPatch: unknown,
): Promise<StoredResourceChecked | Refusal> {
  let response;
  try {
    response = await exchangeBuffered(upstream, { method: 'GET', path: request.path, headers: request.headers }, limit, request.onBehalfOf);
  } catch (err) {
    return upstreamRefusal(err);
  }
  if (response.ok && (response.status === 404 || response.status === 410)) return { etag: undefined };
  const stored = response.ok && response.status === 200 ? parseJsonBody(response.headers, response.bytes) : undefined;
  if (!response.ok || stored === undefined) {
    const reason = 'the gateway could not fetch the stored resource to check it, so the write was not forwarded';
    return badUpstreamAnswer('transient', reason, `${reason} (upstream status ${response.status})`);
  }
  const problem = resourceCheckProblem(stored, check);
  if (problem !== undefined) return denied({ status: 403, reason: 'the stored resource is outside what this token may change' }, problem);
  if (jsonPatch !== undefined) {
    // Judge the PATCH by its result: the patched resource must pass the same check.
    let patched: unknown;
    try {
      patched = applyJsonPatch(stored, jsonPatch);
    } catch (err) {
      const reason = 'the gateway could not apply this JSON Patch to check its result';
      return denied({ status: 403, reason }, `${reason}: ${(err as Error).message}`);
    }
    const afterPatch = resourceCheckProblem(patched, check);
    if (afterPatch !== undefined) return denied({ status: 403, reason: 'the patched resource would be outside what this token may change' }, afterPatch);
  }
  const etag = response.headers.etag;
  if (typeof etag === 'string') return { etag };
  const versionId = (stored as { meta?: { versionId?: unknown } }).meta?.versionId;
  return { etag: typeof versionId === 'string' ? `W/"${versionId}"` : undefined };
}
