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

export interface TokenStatus {
  revoked: boolean;
  rate?: RateLimitResult;
}

/** Whether the store answers: `down` while Redis is unreachable (the embedded store is always up). */
export type StoreAvailability = 'up' | 'down';

/**
 * Everything the authorization server and the proxy keep between requests goes through this
 * port, so that any number of gateway instances sharing one Redis agree on it. The core defines
 * it (like node-oidc-provider's Adapter); gateway/store/ implements it with Redis and with an
 * embedded memory store, and both must pass test/gateway/store/store-contract.test.ts unchanged.
 *
 * All TTLs are in seconds. Keys are logical names; implementations add their own prefix.
 */
export interface Store extends StoreLifecycle, StoreOperations, QueueOperations {}

/** Connection management: not store operations, so neither timed nor counted as failures. */
export interface StoreLifecycle {
  /** Which implementation, for logs and /readyz. */
  readonly kind: 'redis' | 'memory';
  /** Known without a round trip: callers refuse early (503) instead of waiting for a timeout. */
  readonly availability: StoreAvailability;
  /** Connect (or nothing for memory). Rejects if the store cannot be reached. */
  connect(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The operations. Every method here is timed and has its failures turned into
 * StoreUnavailableError by gateway/store/instrumented-store.ts, which wraps whatever methods the
 * store has: a new operation needs no second list to be kept in sync.
 */
interface StoreOperations {
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
  checkToken(jti: string, rate?: { key: string; rule: RateLimitRule }): Promise<TokenStatus>;
}

/** What a request is told while the gateway has not reached its store yet (every endpoint but /healthz and /readyz). */
export const STARTING_MESSAGE = 'The gateway is starting: it cannot reach its store yet; retry shortly';

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
 * gateway/process/audit/).
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
export interface QueueOperations {
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
