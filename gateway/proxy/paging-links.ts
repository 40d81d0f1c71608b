import { createHmac, randomBytes } from 'node:crypto';
import { PAGING_TOKEN_PARAMETERS } from '../../authz/smart/fhir-request.js';
import { secretsEqual } from '../../authz/crypto/constant-time.js';
import type { Store } from '../../authz/store.js';

/**
 * Paging links that carry an opaque upstream handle (`_getpages`, `_cursor`, `_page_token`).
 * The handle alone says nothing the gateway can decide on -- the upstream resolves it to a
 * search the gateway never sees -- so the gateway signs each such link it hands out, binding it
 * to the token's identity and to the search that produced it. A paging request is then decided
 * as that original search, for the same sub/client/patient only; an unsigned, altered, expired
 * or borrowed link is refused. (`_offset`/`_count` links need none of this: they restate the
 * whole search, which is decided like any other.)
 */

/** Parameters the gateway adds to a paging link; never forwarded upstream. */
export const PAGE_PARAM = '_gw_page';
export const SIGNATURE_PARAM = '_gw_sig';
const GATEWAY_PARAMS: readonly string[] = [PAGE_PARAM, SIGNATURE_PARAM];

/** Whom a link is for: a link is only valid with a token for the same principal and context. */
export interface PagingBinding {
  sub: string;
  client_id: string;
  patient?: string;
}

type PagingLinkCheck =
  /** An ordinary request: no paging handle, no gateway parameters. */
  | { kind: 'none' }
  /** A valid signed link: decide on `originalSearch`, forward `forwardQuery`. */
  | { kind: 'signed'; originalSearch: string; forwardQuery: string }
  | { kind: 'invalid'; reason: string };

interface PagePayload {
  /** The search (normalized path + query, as forwarded upstream) the handle continues. */
  s: string;
  /** Expiry, epoch seconds. */
  e: number;
}

export function hasPagingHandle(query: URLSearchParams): boolean {
  return [...query.keys()].some((key) => PAGING_TOKEN_PARAMETERS.includes(key.split(':')[0] ?? ''));
}

function withoutGatewayParams(query: URLSearchParams): string {
  return new URLSearchParams([...query].filter(([key]) => !GATEWAY_PARAMS.includes(key))).toString();
}

function mac(key: Buffer, binding: PagingBinding, path: string, linkQuery: string, page: string): string {
  const input = JSON.stringify(['fhir-gateway-paging-v1', binding.sub, binding.client_id, binding.patient ?? '', path, linkQuery, page]);
  return createHmac('sha256', key).update(input).digest('base64url');
}

export class PagingLinkSigner {
  constructor(
    private readonly key: Buffer,
    private readonly ttlSeconds: number,
  ) {}

  /**
   * Signs a link's query if it carries a paging handle; returns it unchanged otherwise. `path` is
   * the link's path relative to the FHIR base ("/" for the base itself); `originalSearch` is the
   * search the Bundle answers (for a page, the search of the first page).
   */
  signIfPaging(path: string, query: URLSearchParams, originalSearch: string, binding: PagingBinding, now = nowSeconds()): URLSearchParams {
    if (!hasPagingHandle(query)) return query;
    const linkQuery = withoutGatewayParams(query);
    const page = Buffer.from(JSON.stringify({ s: originalSearch, e: now + this.ttlSeconds } satisfies PagePayload)).toString('base64url');
    const signed = new URLSearchParams(linkQuery);
    signed.append(PAGE_PARAM, page);
    signed.append(SIGNATURE_PARAM, mac(this.key, binding, path, linkQuery, page));
    return signed;
  }

  /** Checks an incoming request's query (`path`: its normalized path relative to the FHIR base). */
  check(path: string, query: URLSearchParams, binding: PagingBinding, now = nowSeconds()): PagingLinkCheck {
    const page = query.getAll(PAGE_PARAM);
    const signature = query.getAll(SIGNATURE_PARAM);
    const paging = hasPagingHandle(query);
    if (!paging && page.length === 0 && signature.length === 0) return { kind: 'none' };
    if (!paging) return { kind: 'invalid', reason: `${PAGE_PARAM}/${SIGNATURE_PARAM} are only valid on a paging link the gateway issued` };
    if (page.length !== 1 || signature.length !== 1) {
      return { kind: 'invalid', reason: 'a paging handle is only accepted in a paging link issued by the gateway (signed); request the search again' };
    }
    const linkQuery = withoutGatewayParams(query);
    if (!secretsEqual(signature[0]!, mac(this.key, binding, path, linkQuery, page[0]!))) {
      return { kind: 'invalid', reason: 'the paging link was altered, or was issued for another token' };
    }
    let payload: PagePayload;
    try {
      payload = JSON.parse(Buffer.from(page[0]!, 'base64url').toString('utf8')) as PagePayload;
    } catch {
      return { kind: 'invalid', reason: 'the paging link is malformed' };
    }
    if (typeof payload.s !== 'string' || typeof payload.e !== 'number') return { kind: 'invalid', reason: 'the paging link is malformed' };
    if (payload.e < now) return { kind: 'invalid', reason: 'the paging link has expired; request the search again' };
    return { kind: 'signed', originalSearch: payload.s, forwardQuery: linkQuery };
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

const STORE_KEY = 'paging-key';
const keys = new WeakMap<Store, Promise<Buffer>>();

/**
 * The HMAC key, shared by every gateway instance on the same store (a link issued by one must
 * verify on another). Created once by whichever instance asks first.
 */
export function pagingKey(store: Store): Promise<Buffer> {
  let key = keys.get(store);
  if (!key) {
    key = store.setIfAbsent(STORE_KEY, randomBytes(32).toString('base64url')).then((value) => Buffer.from(value, 'base64url'));
    // A failed lookup (store down) must be retried next time, not cached.
    key.catch(() => keys.delete(store));
    keys.set(store, key);
  }
  return key;
}
