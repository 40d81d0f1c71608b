/**
 * RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), joined by single spaces.
 * The one rule for every scope list in the configuration: clients, users, identity providers,
 * upstream.auth.
 */
const SCOPE_LIST_PATTERN = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;

export function isScopeList(scope: string): boolean {
  return SCOPE_LIST_PATTERN.test(scope);
}
