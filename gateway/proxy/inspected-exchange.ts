import type { IncomingHttpHeaders } from 'node:http';
import type { IncludeFilter, ResourceCheck } from '../../authz/smart/access-decision.js';
import { resourceCheckProblem } from '../../authz/smart/resource-check.js';
import { withholdUnreadableIncludes } from '../../authz/smart/withheld-includes.js';
import { exchangeBuffered, isJsonMediaType, parseJsonText } from '../upstream/buffered-exchange.js';
import type { UpstreamRequest } from '../upstream/forwarder.js';
import type { OnBehalfOf, UpstreamSender } from '../upstream/upstream-client.js';
import { mayHavePagingLink, rewriteJsonUrls } from './json-url-rewrite.js';
import type { PagingBinding, PagingLinkSigner } from './paging-links.js';
import { badUpstreamAnswer, denied, upstreamRefusal, type Refusal } from './refusals.js';
import type { Reply } from './respond.js';

interface InspectedExchange {
  upstream: UpstreamSender;
  request: UpstreamRequest;
  /** The token the request is made for (identity headers, the forwarded token). */
  onBehalfOf: OnBehalfOf;
  /** ResourceCheck the decision asked for on the response, if any. */
  checkResponse: ResourceCheck | undefined;
  /** The decision's filterIncludes: included resources of other types are withheld from a search Bundle. */
  filterIncludes: IncludeFilter | undefined;
  /** Bytes the gateway holds at most (proxy.max_buffered_body). */
  limit: number;
  upstreamBase: string;
  publicUrl: string;
  /** The search this response answers (normalized path + query as forwarded), bound into paging links. */
  originalSearch: string;
  binding: PagingBinding;
  signer: () => Promise<PagingLinkSigner>;
}

/** Response headers that describe the bytes as the upstream sent them, not as the gateway sends them. */
const FRAMING = ['content-length', 'transfer-encoding', 'content-encoding'];

/**
 * The path for responses the gateway must look at: checked responses (patient compartment,
 * granular scopes), searches whose unreadable includes are withheld, and Bundles (whose URLs are rewritten and paging links signed). The answer is
 * read whole, up to the configured limit: a larger one is refused with 502, since it can be
 * neither checked nor rewritten (a smaller `_count` gets it through). A response that cannot be
 * shown to satisfy the check or to be filtered -- unreadable, not JSON, or with one resource
 * outside it -- is refused, never passed through.
 */
export async function inspectedExchange(x: InspectedExchange): Promise<Reply | Refusal> {
  let response;
  try {
    response = await exchangeBuffered(x.upstream, x.request, x.limit, x.onBehalfOf);
  } catch (err) {
    return upstreamRefusal(err);
  }
  if (!response.ok) {
    return badUpstreamAnswer(
      'too-costly',
      `The FHIR server's response is larger than the ${x.limit} bytes the gateway inspects (proxy.max_buffered_body); ask for fewer results (_count)`,
    );
  }

  // Decoded once: the check, the filter and the URL rewrite all read this text.
  const text = isJsonMediaType(response.headers) && response.bytes.length > 0 ? response.bytes.toString('utf8') : undefined;
  // What the client gets instead of the upstream's bytes, once something changed.
  let edited: string | undefined;
  if ((x.checkResponse !== undefined || x.filterIncludes !== undefined) && response.bytes.length > 0) {
    // Only an answer that is checked or filtered is parsed: a Bundle whose URLs are merely rewritten is not.
    let json = text === undefined ? undefined : parseJsonText(text);
    if (json === undefined) return unprovable(x, 'the response is not JSON (ask for application/fhir+json)');
    if (x.filterIncludes !== undefined) {
      // Before the check: a withheld resource is not sent, so it cannot fail the check either.
      const filtered = withholdUnreadableIncludes(json, x.filterIncludes);
      if (filtered.withheld.length > 0) {
        json = filtered.body;
        edited = JSON.stringify(json);
      }
    }
    const problem = x.checkResponse !== undefined ? resourceCheckProblem(json, x.checkResponse) : undefined;
    if (problem !== undefined) return unprovable(x, problem);
  }

  if (text !== undefined) {
    const current = edited ?? text;
    const signer = mayHavePagingLink(current) ? await x.signer() : undefined;
    const rewritten = rewriteJsonUrls(current, {
      upstreamBase: x.upstreamBase,
      publicBase: x.publicUrl,
      signPagingLink: (path, query) => (signer ? signer.signIfPaging(path, query, x.originalSearch, x.binding) : query),
    });
    if (rewritten !== undefined) edited = rewritten;
  }
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(response.headers)) if (!FRAMING.includes(name)) headers[name] = value;
  return { status: response.status, headers, body: edited === undefined ? response.bytes : Buffer.from(edited) };
}

/** The response cannot be shown to satisfy the decision's instructions: refused, never passed through. */
function unprovable(x: InspectedExchange, problem: string): Refusal {
  const what = x.checkResponse !== undefined ? whatWasChecked(x.checkResponse) : 'the resource types it may read';
  return denied(
    { status: 403, reason: `The FHIR server's response cannot be shown to lie within this token's access (${what}), so the gateway withheld it` },
    `response check failed: ${problem}`,
  );
}

function whatWasChecked(check: ResourceCheck): string {
  const parts: string[] = [];
  if (check.compartmentPatient !== undefined) parts.push(`Patient/${check.compartmentPatient}'s compartment`);
  if (check.granularQuery !== undefined) parts.push(`the granular scope ${check.granularQuery.toString()}`);
  return parts.join(' and ');
}

