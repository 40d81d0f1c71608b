export interface RateLimitRule {
  /** Requests allowed per period: the steady rate is one per periodSeconds/limit. */
  limit: number;
  periodSeconds: number;
  /**
   * Like nginx `limit_req burst=N nodelay`: a quiet client may send burst + 1 at once; no
   * window of one period lets more than limit + burst through. 0 = strict pacing.
   */
  burst: number;
}

export interface RateLimitResult {
  allowed: boolean;
  /** limit + burst: the most requests that can pass in any one period (burst + 1 can pass at once). */
  limit: number;
  /** How many more fit in the coming period at the steady rate; 0 after a refusal. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds to wait before retrying (0 when allowed). */
  retryAfterSeconds: number;
}

export interface AccessCheck {
  revoked: boolean;
  rate?: RateLimitResult;
}

/**
 * Everything the gateway keeps between requests goes through this interface, so that any
 * number of gateway instances sharing one Redis agree on it. Both implementations
 * (Redis, embedded memory) must pass test/store-contract.test.ts unchanged.
 *
 * All TTLs are in seconds. Keys are logical names; implementations add their own prefix.
 */
export interface Store {
  /** Which implementation, for logs and /readyz. */
  readonly kind: 'redis' | 'memory';

  /** Connect (or nothing for memory). Rejects if the store cannot be reached. */
  connect(): Promise<void>;
  close(): Promise<void>;
  /** Round trip to the store; rejects when it is unreachable. */
  ping(): Promise<void>;

  /** Keep a single-use value (authorization code, etc.) for ttl seconds. Returns false if the key already exists. */
  putOnce(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** Atomically read and delete a single-use value: of concurrent callers, at most one gets it. */
  takeOnce(key: string): Promise<string | null>;

  /** Mark a token id revoked until `ttlSeconds` from now (its remaining lifetime). */
  revoke(jti: string, ttlSeconds: number): Promise<void>;
  isRevoked(jti: string): Promise<boolean>;

  /** Increment a counter that expires ttlSeconds after its first increment; returns the new value. */
  increment(key: string, ttlSeconds: number): Promise<number>;
  getCounter(key: string): Promise<number>;
  resetCounter(key: string): Promise<void>;

  /** Small shared values (e.g. a generated signing key). ttlSeconds omitted -> no expiry. */
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** Set only if absent; returns the value now stored (the caller's, or the one that won the race). */
  setIfAbsent(key: string, value: string, ttlSeconds?: number): Promise<string>;
  delete(key: string): Promise<void>;

  /** GCRA rate limit: one atomic operation (a Lua script on Redis). */
  rateLimit(key: string, rule: RateLimitRule): Promise<RateLimitResult>;
  /**
   * The proxy's hot path: is this token id revoked, and (optionally) does its client stay within
   * its rate limit -- answered in ONE round trip to the store.
   */
  checkAccess(jti: string, rate?: { key: string; rule: RateLimitRule }): Promise<AccessCheck>;
}

/** Thrown (or wrapped) when the store cannot answer: callers must fail closed. */
export class StoreUnavailableError extends Error {
  readonly storeUnavailable = true;
  constructor(cause: unknown) {
    super(`store unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

export interface QueueAppendResult {
  /** Items waiting in the queue after the append (claimed items not counted). */
  length: number;
  /** Oldest items removed so that no more than maxLength wait. */
  dropped: number;
}

export interface QueueClaim {
  /** Names the claim for queueAck / queueRelease. */
  id: string;
  /** Oldest first. */
  items: string[];
}

/**
 * Bounded FIFO queues shared by every gateway instance on the store (the AuditEvent queue,
 * gateway/process/audit/). Kept apart from Store so that Store's other implementers (test doubles)
 * need not grow; both stores implement it.
 *
 * Claim + ack rather than take: a claim moves items from the head into a lease. A sender acks
 * them once delivered, or releases them (back to the head, in order) when delivery failed; if
 * its process dies first, the lease runs out and the next claim puts them back at the head.
 * Several instances claiming at once never get the same item. So nothing queued is lost except
 * what the bound drops (at-least-once: an item delivered just before its sender died, or after
 * its lease ran out, may be delivered twice).
 *
 * The bound applies when items are appended: beyond maxLength waiting items, the oldest are
 * dropped and counted. Released or expired items always go back (they were within the bound when
 * appended), so the queue may exceed maxLength by what was claimed until the next append trims it.
 *
 * Queue names: 1-64 of A-Z a-z 0-9 . _ - (they become part of store keys).
 */
export interface QueueStore {
  queueAppend(queue: string, items: string[], maxLength: number): Promise<QueueAppendResult>;
  /** Up to `max` items from the head, leased for leaseSeconds; null when nothing waits. */
  queueClaim(queue: string, max: number, leaseSeconds: number): Promise<QueueClaim | null>;
  /** The claim's items were delivered: forget them. False when the claim was unknown (its lease ran out and its items went back). */
  queueAck(queue: string, claimId: string): Promise<boolean>;
  /** Delivery failed: the claim's items go back to the head, in their order. False when the claim was unknown. */
  queueRelease(queue: string, claimId: string): Promise<boolean>;
  /** Items waiting (not claimed). */
  queueLength(queue: string): Promise<number>;
}

const QUEUE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** The argument checks both QueueStore implementations share. */
export function assertQueueArguments(queue: string, limits: { maxLength?: number; max?: number; leaseSeconds?: number } = {}): void {
  if (!QUEUE_NAME.test(queue)) throw new RangeError(`queue name must be 1-64 of A-Za-z0-9._- (got ${JSON.stringify(queue)})`);
  for (const [name, value] of Object.entries(limits)) {
    if (name === 'leaseSeconds' ? !(Number.isFinite(value) && value > 0) : !(Number.isSafeInteger(value) && value >= 1)) {
      throw new RangeError(`${name} must be ${name === 'leaseSeconds' ? 'a positive number' : 'an integer >= 1'}, got ${value}`);
    }
  }
}
