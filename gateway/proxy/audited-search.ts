import type { DecisionInput } from './paging.js';
import type { RequestBody } from './request-body.js';

/** Interactions whose AuditEvent records a search: the searches, and the conditional interactions, whose criteria are one. */
const SEARCHING: ReadonlySet<string> = new Set([
  'search-type',
  'search-system',
  'search-compartment',
  'conditional-create',
  'conditional-update',
  'conditional-patch',
  'conditional-delete',
]);

/**
 * The search an AuditEvent records (BALP `entity[query]`), as the client sent it: the path
 * relative to the FHIR base and the query string, undecoded. A form-encoded POST `_search` adds
 * its body to the query once the body has been read (a search refused before that is recorded
 * by its URL); a conditional create's criteria are its If-None-Exist header, on its type. A
 * signed paging link is recorded as the search it continues (what the decision was made on),
 * not as its opaque handle. Undefined for every other interaction.
 *
 * It carries patient data: it goes into the AuditEvent and nowhere else (never the request log).
 */
export function auditedSearch(interaction: string, input: DecisionInput, body?: RequestBody): string | undefined {
  if (!SEARCHING.has(interaction)) return undefined;
  if (input.pagedSearch !== undefined) return input.pagedSearch;
  const { rawPath, headers } = input.facts;
  if (interaction === 'conditional-create') {
    const criteria = headers['if-none-exist'];
    return typeof criteria === 'string' ? `${rawPath}?${criteria}` : rawPath;
  }
  const form = body?.parsed instanceof URLSearchParams ? body.bytes.toString('utf8') : '';
  const query = [input.forwardQuery, form].filter(Boolean).join('&');
  return query ? `${rawPath}?${query}` : rawPath;
}
