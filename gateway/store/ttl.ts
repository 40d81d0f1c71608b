/**
 * Store TTLs are seconds in the interface but may be fractional (a token's remaining lifetime),
 * so both stores work in whole milliseconds, rounded up so nothing expires early.
 */
export function ttlToMs(ttlSeconds: number): number {
  if (!(ttlSeconds > 0) || !Number.isFinite(ttlSeconds)) throw new RangeError(`TTL must be a positive number of seconds, got ${ttlSeconds}`);
  return Math.ceil(ttlSeconds * 1000);
}
