/**
 * Redis key layout: `<key_prefix><namespace>:<logical key>`.
 *
 * Revocation markers and rate buckets carry the hash tag `{access}`: in a Cluster they live on
 * one shard, so reading every revocation back (revocation-mirror.ts: SCAN and MGET) is one
 * shard's work (one Redis shard serves well over 100k rate-limit steps per second; the other
 * namespaces spread over the cluster). The tag sits after the prefix, so a
 * key_prefix must not contain `{` unless it is itself a hash tag (`{gw}:` puts every key of
 * the gateway on one slot, which is also correct).
 *
 * A queue (the AuditEvent queue) has three keys: the list, the claimed batches and their leases
 * (lua/queue-scripts.ts). The queue name is their hash tag, so a script touching all three runs
 * on one Cluster slot; queue names cannot contain braces (queue-arguments.ts).
 */
export interface RedisKeys {
  code(key: string): string;
  value(key: string): string;
  counter(key: string): string;
  revoked(jti: string): string;
  rateBucket(key: string): string;
  /** The pub/sub channel every instance hears revocations on (see revocation-mirror.ts). */
  revocationChannel: string;
  queue(name: string): [list: string, claims: string, leases: string];
}

export function redisKeys(prefix: string): RedisKeys {
  return {
    code: (key) => `${prefix}code:${key}`,
    value: (key) => `${prefix}value:${key}`,
    counter: (key) => `${prefix}counter:${key}`,
    revoked: (jti) => `${prefix}revoked:{access}:${jti}`,
    rateBucket: (key) => `${prefix}rl:{access}:${key}`,
    revocationChannel: `${prefix}revocations`,
    queue: (name) => [`${prefix}queue:{${name}}`, `${prefix}queue-claims:{${name}}`, `${prefix}queue-leases:{${name}}`],
  };
}
