import type { IncomingHttpHeaders } from 'node:http';
import type { FhirRequestFacts } from '../../authz/smart/fhir-request.js';
import type { Store } from '../../authz/store.js';
import { hasPagingHandle, PAGE_PARAM, pagingKey, PagingLinkSigner, SIGNATURE_PARAM, type PagingBinding } from './paging-links.js';
import { denied, storeUnavailable, type Refusal } from './refusals.js';
import { splitTarget, type RequestTarget } from './request-target.js';

/** What the decision is made on, and what is then sent upstream. */
export interface DecisionInput {
  facts: FhirRequestFacts;
  /** The query to forward (for a signed paging link: the link's own query, handle included). */
  forwardQuery: string;
  /** Set when following a signed paging link: the search it continues (decided instead of the link). */
  pagedSearch: string | undefined;
}

/**
 * Stage 5: an opaque paging handle (`_getpages`, `_cursor`, `_page_token`) is decided as the
 * search it continues, taken from the gateway's signature on the link; an unsigned, altered,
 * expired or borrowed link is refused. Every other request is decided as it is.
 */
export function decisionInput(
  method: string,
  target: RequestTarget,
  headers: IncomingHttpHeaders,
  paging: { store: Store; binding: PagingBinding; ttlSeconds: number },
): DecisionInput | Promise<DecisionInput | Refusal> {
  const query = new URLSearchParams(target.rawQuery);
  const asSent: DecisionInput = { facts: { method, rawPath: target.rawPath, query, headers }, forwardQuery: target.rawQuery, pagedSearch: undefined };
  // No paging parameter (nearly every request): answered without a promise.
  if (!hasPagingHandle(query) && !query.has(PAGE_PARAM) && !query.has(SIGNATURE_PARAM)) return asSent;
  return signedSearch(method, target, headers, paging, query, asSent);
}

async function signedSearch(
  method: string,
  target: RequestTarget,
  headers: IncomingHttpHeaders,
  paging: { store: Store; binding: PagingBinding; ttlSeconds: number },
  query: URLSearchParams,
  asSent: DecisionInput,
): Promise<DecisionInput | Refusal> {
  let check;
  try {
    check = (await pagingSigner(paging.store, paging.ttlSeconds)).check(target.path, query, paging.binding);
  } catch (err) {
    return storeUnavailable(err);
  }
  if (check.kind === 'invalid') return denied({ status: 403, reason: check.reason });
  if (check.kind === 'none') return asSent;
  if (method !== 'GET' && method !== 'HEAD') return denied({ status: 405, reason: 'a paging link is followed with GET' });
  const original = splitTarget(check.originalSearch);
  return {
    facts: { method: 'GET', rawPath: original.rawPath, query: new URLSearchParams(original.rawQuery), headers },
    forwardQuery: check.forwardQuery,
    pagedSearch: check.originalSearch,
  };
}

/** The signer of paging links, with the key every instance on the same store shares. */
export async function pagingSigner(store: Store, ttlSeconds: number): Promise<PagingLinkSigner> {
  return new PagingLinkSigner(await pagingKey(store), ttlSeconds);
}
