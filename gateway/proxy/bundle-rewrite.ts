/**
 * Keeps the upstream's base URL out of Bundles: `link[].url`, `entry[].fullUrl` and
 * `entry[].response.location` (batch/transaction responses) are moved onto the public base.
 * Paging links go through `mapLink` as well, so the caller can sign opaque page handles.
 * Resources inside entries are data and are left alone.
 */

interface BundleUrlMapping {
  /** A URL under the upstream base, as a path relative to it ("/Patient/1", "?_getpages=x" -> "/"). */
  relative(url: string): { path: string; query: string } | undefined;
  /** The public URL for a relative path and query. */
  publicUrl(path: string, query: string): string;
  /** Rewrites the query of a paging link (e.g. signs it); identity for other links. */
  mapLinkQuery(path: string, query: URLSearchParams): URLSearchParams;
}

/** Whether the body is a Bundle whose URLs the gateway rewrites. */
export function isBundle(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && (value as { resourceType?: unknown }).resourceType === 'Bundle';
}

/** Rewrites in place; returns true when anything changed. */
export function rewriteBundleUrls(bundle: Record<string, unknown>, mapping: BundleUrlMapping): boolean {
  let changed = false;
  const move = (url: unknown, isLink: boolean): string | undefined => {
    if (typeof url !== 'string') return undefined;
    const relative = mapping.relative(url);
    if (relative === undefined) return undefined;
    const query = isLink ? mapping.mapLinkQuery(relative.path, new URLSearchParams(relative.query)).toString() : relative.query;
    changed = true;
    return mapping.publicUrl(relative.path, query);
  };
  for (const link of asArray(bundle['link'])) {
    const url = move(link['url'], true);
    if (url !== undefined) link['url'] = url;
  }
  for (const entry of asArray(bundle['entry'])) {
    const fullUrl = move(entry['fullUrl'], false);
    if (fullUrl !== undefined) entry['fullUrl'] = fullUrl;
    const response = entry['response'];
    if (response !== null && typeof response === 'object' && !Array.isArray(response)) {
      const record = response as Record<string, unknown>;
      const location = move(record['location'], false);
      if (location !== undefined) record['location'] = location;
    }
  }
  return changed;
}

function asArray(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter((item): item is Record<string, unknown> => item !== null && typeof item === 'object' && !Array.isArray(item)) : [];
}

/** The mapping between one upstream base and the public base, with a hook for paging links. */
export function baseUrlMapping(upstreamBase: string, publicBase: string, mapLinkQuery: BundleUrlMapping['mapLinkQuery']): BundleUrlMapping {
  return {
    relative(url) {
      if (url !== upstreamBase && !url.startsWith(upstreamBase + '/') && !url.startsWith(upstreamBase + '?')) return undefined;
      const rest = url.slice(upstreamBase.length);
      const q = rest.indexOf('?');
      const path = q === -1 ? rest : rest.slice(0, q);
      return { path: path === '' ? '/' : path, query: q === -1 ? '' : rest.slice(q + 1) };
    },
    publicUrl(path, query) {
      return publicBase + (path === '/' ? '' : path) + (query ? `?${query}` : '');
    },
    mapLinkQuery,
  };
}
