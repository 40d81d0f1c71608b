/** The query string the upstream receives: the client's, plus the decision's `addQuery`. */
export function appendQuery(rawQuery: string, addQuery: readonly [string, string][] | undefined): string {
  if (!addQuery || addQuery.length === 0) return rawQuery;
  const added = new URLSearchParams(addQuery as [string, string][]).toString();
  return rawQuery ? `${rawQuery}&${added}` : added;
}

/**
 * The search a response answers, as a GET the decision can re-evaluate (bound into signed paging
 * links). A form-encoded POST `_search` becomes the equivalent GET on the type, its body
 * parameters joined to the query.
 */
export function searchAsGet(method: string, path: string, forwardedQuery: string, formBody: unknown): string {
  let searchPath = path;
  let query = forwardedQuery;
  if (method === 'POST' && (path === '/_search' || path.endsWith('/_search'))) {
    searchPath = path.slice(0, -'/_search'.length) || '/';
    const form = formBody instanceof URLSearchParams ? formBody.toString() : '';
    query = [forwardedQuery, form].filter(Boolean).join('&');
  }
  return query ? `${searchPath}?${query}` : searchPath;
}
