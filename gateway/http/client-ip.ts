import { BlockList, isIP } from 'node:net';

/** Builds the set of reverse proxies whose X-Forwarded-For we believe. */
export function trustedProxySet(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/');
    const family = isIP(address ?? '') === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address!, family);
    else list.addSubnet(address!, Number(prefix), family);
  }
  return list;
}

function isTrusted(list: BlockList, address: string): boolean {
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  const family = isIP(plain) === 6 ? 'ipv6' : 'ipv4';
  return isIP(plain) !== 0 && list.check(plain, family);
}

/**
 * The client's address: the socket peer, unless that peer is a trusted proxy, in which case
 * the right-most X-Forwarded-For hop that is not itself a trusted proxy. Without trusted
 * proxies configured, X-Forwarded-For is ignored entirely, so clients can't spoof their IP
 * around per-IP rate limits.
 */
export function resolveClientIp(peer: string, forwardedFor: string | undefined, trusted: BlockList | undefined): string {
  if (!trusted || !forwardedFor || !isTrusted(trusted, peer)) return peer;
  const hops = forwardedFor
    .split(',')
    .map((h) => h.trim())
    .filter((h) => isIP(h.startsWith('::ffff:') ? h.slice(7) : h) !== 0);
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!isTrusted(trusted, hops[i]!)) return hops[i]!;
  }
  return hops[0] ?? peer;
}
