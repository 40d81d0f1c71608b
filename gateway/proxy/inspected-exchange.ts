import type { IncomingHttpHeaders } from 'node:http';
import type { Context } from 'koa';
import type { ResourceCheck } from '../../authz/smart/access-decision.js';
import { sendDenial } from './access-denial.js';
import { baseUrlMapping, isBundle, rewriteBundleUrls } from './bundle-rewrite.js';
import { exchangeBuffered, parseJsonBody } from '../upstream/buffered-exchange.js';
import { UpstreamError, type Forwarder, type UpstreamRequest } from '../upstream/forwarder.js';
import { sendOutcome } from './operation-outcome.js';
import { hasPagingHandle, type PagingBinding, type PagingLinkSigner } from './paging-links.js';
import { resourceCheckProblem } from '../../authz/smart/resource-check.js';

export interface InspectedExchange {
  forwarder: Forwarder;
  request: UpstreamRequest;
  /** ResourceCheck the decision asked for on the response, if any. */
  checkResponse?: ResourceCheck;
  /** Bytes the gateway holds at most (proxy.max_buffered_body). */
  limit: number;
  upstreamBase: string;
  publicUrl: string;
  /** The search this response answers (normalized path + query as forwarded), bound into paging links. */
  originalSearch: string;
  binding: PagingBinding;
  signer: () => Promise<PagingLinkSigner>;
}

/** How it ended, for the audit log (the reason may name resources; the client gets a generic message). */
export type InspectedResult = { decision: 'allow' | 'deny' | 'error'; status: number; reason: string };

/** Response headers that describe the bytes as the upstream sent them, not as the gateway sends them. */
const FRAMING = ['content-length', 'transfer-encoding', 'content-encoding'];

/**
 * The path for responses the gateway must look at: checked responses (patient compartment,
 * granular scopes) and Bundles (whose URLs are rewritten and paging links signed). The answer is
 * read whole, up to the configured limit: a larger one is refused with 502, since it can be
 * neither checked nor rewritten (a smaller `_count` gets it through). A response that cannot be
 * shown to satisfy the check -- unreadable, not JSON, or with one resource outside it -- is
 * refused, never passed through.
 */
export async function runInspectedExchange(ctx: Context, x: InspectedExchange): Promise<InspectedResult> {
  let response;
  try {
    response = await exchangeBuffered(x.forwarder, x.request, x.limit);
  } catch (err) {
    const timeout = err instanceof UpstreamError && err.kind === 'timeout';
    ctx.state.upstreamError = timeout ? 'timeout' : err instanceof UpstreamError ? err.code : 'error';
    const reason = timeout ? 'The FHIR server did not answer in time' : 'The FHIR server could not be reached';
    sendOutcome(ctx, timeout ? 504 : 502, timeout ? 'timeout' : 'transient', reason);
    return { decision: 'error', status: timeout ? 504 : 502, reason };
  }
  if (!response.ok) {
    const reason = `The FHIR server's response is larger than the ${x.limit} bytes the gateway inspects (proxy.max_buffered_body); ask for fewer results (_count)`;
    sendOutcome(ctx, 502, 'too-costly', reason);
    return { decision: 'error', status: 502, reason };
  }

  const json = parseJsonBody(response.headers, response.bytes);
  if (x.checkResponse !== undefined && response.bytes.length > 0) {
    const problem = json === undefined ? 'the response is not JSON (ask for application/fhir+json)' : resourceCheckProblem(json, x.checkResponse);
    if (problem !== undefined) {
      sendDenial(ctx, { status: 403, reason: `The FHIR server's response cannot be shown to lie within this token's access (${whatWasChecked(x.checkResponse)}), so the gateway withheld it` });
      return { decision: 'deny', status: 403, reason: `response check failed: ${problem}` };
    }
  }

  let bytes = response.bytes;
  if (isBundle(json)) {
    const signer = bundleHasPagingHandle(json) ? await x.signer() : undefined;
    const mapping = baseUrlMapping(x.upstreamBase, x.publicUrl, (path, query) => (signer ? signer.signIfPaging(path, query, x.originalSearch, x.binding) : query));
    if (rewriteBundleUrls(json, mapping)) bytes = Buffer.from(JSON.stringify(json));
  }
  respond(ctx, response.status, response.headers, bytes);
  return { decision: 'allow', status: response.status, reason: 'forwarded' };
}

function whatWasChecked(check: ResourceCheck): string {
  const parts: string[] = [];
  if (check.compartmentPatient !== undefined) parts.push(`Patient/${check.compartmentPatient}'s compartment`);
  if (check.granularQuery !== undefined) parts.push(`the granular scope ${check.granularQuery.toString()}`);
  return parts.join(' and ');
}

function bundleHasPagingHandle(bundle: Record<string, unknown>): boolean {
  const links = Array.isArray(bundle['link']) ? (bundle['link'] as { url?: unknown }[]) : [];
  return links.some((link) => {
    if (typeof link?.url !== 'string') return false;
    const q = link.url.indexOf('?');
    return q !== -1 && hasPagingHandle(new URLSearchParams(link.url.slice(q + 1)));
  });
}

function respond(ctx: Context, status: number, headers: IncomingHttpHeaders, bytes: Buffer): void {
  ctx.status = status;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || FRAMING.includes(name)) continue;
    ctx.set(name, value);
  }
  ctx.body = bytes;
}
