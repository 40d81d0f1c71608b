/**
 * URLs the gateway sends credentials to (token endpoints, discovery issuers). RFC 6749 §3.2
 * and RFC 8414 §2 require TLS there; plain http is accepted only on the loopback interface,
 * where nothing crosses a network (a token endpoint on the same host, tests).
 */

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Why `value` is not acceptable as an https (or loopback http) URL without query or fragment; undefined when it is. */
export function credentialUrlProblem(value: string): string | undefined {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  // Checked first, so that a password in the URL is never quoted back.
  if (url !== undefined && (url.username !== '' || url.password !== '')) return 'expected a URL without user or password in it';
  // A query may carry a key (`?code=...`): such a value is not quoted either.
  if (url !== undefined && (url.search !== '' || url.hash !== '' || value.includes('#'))) return 'expected an absolute https URL without query or fragment';
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    return `expected an absolute https URL without query or fragment (got ${JSON.stringify(value)})`;
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    return `expected https: credentials are sent there, and plain http is accepted only for localhost / 127.0.0.0/8 / [::1] (got ${JSON.stringify(value)})`;
  }
  return undefined;
}
