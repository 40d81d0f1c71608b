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
