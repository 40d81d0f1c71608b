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
export interface Store extends StoreLifecycle, StoreOperations {}

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
