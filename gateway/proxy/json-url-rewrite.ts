import { PAGING_TOKEN_PARAMETERS } from '../../authz/smart/fhir-request.js';
import { isUnderBase } from '../upstream/response-headers.js';
import { hasPagingHandle } from './paging-links.js';

/** The upstream's base and the gateway's, with the hook that signs paging links. */
export interface UrlRewrite {
  /** The upstream FHIR base URL, without a trailing slash. */
  upstreamBase: string;
  /** The public FHIR base URL, without a trailing slash. */
  publicBase: string;
  /** Rewrites the query of a link that carries a paging handle (signs it); `path` is relative to the base ("/" for the base). */
  signPagingLink(path: string, query: URLSearchParams): URLSearchParams;
}

/**
 * Keeps the upstream's base URL out of an inspected JSON answer: every JSON string value that is a
 * URL under the upstream base (the base itself, or followed by `/` or `?`) is moved onto the public
 * base -- `Bundle.link[].url`, `entry[].fullUrl`, `entry[].response.location`, and absolute
 * references inside resources alike -- and a link carrying an opaque paging handle (`_getpages`,
 * `_cursor`, `_page_token`) is signed (paging-links.ts). Any other URL, and everything else, is
 * left byte for byte.
 *
 * Works on the JSON text, without parsing and serializing the whole document: a string value
 * starts with `"` and, in valid JSON, `"` followed by the base can only be the start of one. When
 * the text holds escapes the scan cannot read reliably (an escaped slash, anywhere; an escape
 * inside a matching value; an escaped quote before one), the document is parsed instead and the
 * same rule applied to its values. Returns the new text, or undefined when nothing changed.
 */
export function rewriteJsonUrls(text: string, rewrite: UrlRewrite): string | undefined {
  // `http:\/\/host` is valid JSON for `http://host`: only a parser reads that spelling right.
  if (text.includes('\\/')) return rewriteParsed(text, rewrite);
  const needle = '"' + rewrite.upstreamBase;
  let at = text.indexOf(needle);
  if (at === -1) return undefined;
  let out = '';
  let from = 0;
  while (at !== -1) {
    const start = at + 1;
    const after = start + rewrite.upstreamBase.length;
    const next = text.charCodeAt(after);
    if (next !== QUOTE && next !== SLASH && next !== QUESTION) {
      // `http://up/fhirx/...` is another URL, not one under `http://up/fhir`.
      at = text.indexOf(needle, at + 1);
      continue;
    }
    if (text.charCodeAt(at - 1) === BACKSLASH) return rewriteParsed(text, rewrite);
    const end = text.indexOf('"', after);
    if (end === -1) return rewriteParsed(text, rewrite);
    const value = text.slice(start, end);
    if (value.includes('\\')) return rewriteParsed(text, rewrite);
    out += text.slice(from, start) + publicUrl(value, rewrite);
    from = end;
    at = text.indexOf(needle, end + 1);
  }
  return from === 0 ? undefined : out + text.slice(from);
}

const QUOTE = 34;
const SLASH = 47;
const QUESTION = 63;
const BACKSLASH = 92;
/** Any of the paging handles hasPagingHandle knows, anywhere in the text (the names are plain words: no regex escaping needed). */
const PAGING_HINT = new RegExp(PAGING_TOKEN_PARAMETERS.join('|'));

/** The public URL for a URL under the upstream base (the caller has checked it is one). */
function publicUrl(url: string, rewrite: UrlRewrite): string {
  const rest = url.slice(rewrite.upstreamBase.length);
  const q = rest.indexOf('?');
  if (q === -1) return rewrite.publicBase + rest;
  let query = rest.slice(q + 1);
  const path = rest.slice(0, q);
  if (PAGING_HINT.test(query)) {
    const params = new URLSearchParams(query);
    if (hasPagingHandle(params)) query = rewrite.signPagingLink(path === '' ? '/' : path, params).toString();
  }
  return rewrite.publicBase + path + (query ? `?${query}` : '');
}

/** The same rule on a parsed document, for text the scan cannot read; undefined when it is not JSON or nothing changed. */
function rewriteParsed(text: string, rewrite: UrlRewrite): string | undefined {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return undefined;
  }
  let changed = false;
  const visit = (value: unknown): unknown => {
    if (typeof value === 'string') {
      if (!isUnderBase(value, rewrite.upstreamBase)) return value;
      changed = true;
      return publicUrl(value, rewrite);
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = visit(value[i]);
      return value;
    }
    if (value !== null && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      for (const key of Object.keys(record)) record[key] = visit(record[key]);
    }
    return value;
  };
  const result = visit(document);
  return changed ? JSON.stringify(result) : undefined;
}

/** Whether a document may hold a paging link, so the signing key is fetched only when it might be needed. */
export function mayHavePagingLink(text: string): boolean {
  return PAGING_HINT.test(text);
}
