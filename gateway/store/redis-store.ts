import { randomUUID } from 'node:crypto';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { StoreConfig } from '../../config/types.js';
import { assertValidRule, describeGcra, type GcraDecision } from './gcra.js';
import { INCREMENT, RATE_LIMIT, REVOKE, SET_IF_ABSENT, type LuaScript } from './lua/scripts.js';
import { QUEUE_ACK, QUEUE_APPEND, QUEUE_APPEND_CHUNK, QUEUE_CLAIM, QUEUE_LENGTH, QUEUE_RELEASE } from './lua/queue-scripts.js';
import { redisKeys, type RedisKeys } from './redis-keys.js';
import type { QueueAppendResult, QueueClaim, RateLimitResult, RateLimitRule, Store, StoreAvailability, TokenStatus } from '../../authz/store.js';
import { assertQueueArguments } from './queue-arguments.js';
import { RevocationMirror, type RevocationMirrorOptions } from './revocation-mirror.js';
import { ttlToMs } from './ttl.js';

export type RedisStoreState = 'ready' | 'down';
/** `reason` is the last connection error, when there was one. */
type RedisStateListener = (state: RedisStoreState, reason?: string) => void;

interface RedisStoreOptions {
  /** ioredis options, applied over the fail-fast defaults below (tests shorten timeouts). */
  redis?: RedisOptions;
  /** The local copy of the revocation list (capacity; told when it starts or stops being trusted). */
  revocations?: RevocationMirrorOptions;
}

/**
 * The gateway must answer 503 quickly when Redis is gone, never hang: nothing is queued while
 * disconnected, a command in flight when the connection drops fails at the first reconnect
 * attempt, and a reply that never comes times out. Reconnection goes on in the background
 * with backoff capped at 2 s, so the store recovers by itself when Redis is back.
 */
const FAIL_FAST_DEFAULTS: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 1_000,
  connectTimeout: 2_000,
  retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
  // Commands issued in the same tick (concurrent requests) share one write to the socket;
  // each request still makes exactly one command.
  enableAutoPipelining: true,
};

/**
 * The one place a Redis client is built: a single server (`url`), a Sentinel-managed master
 * (`sentinels` + `sentinel_name`: ioredis asks the sentinels where the master is, and again
 * after a failover) or a Redis Cluster (`cluster_nodes`: seed nodes; the slot map is learnt from
 * them). The store only uses commands that ioredis's Redis and Cluster share, so a Cluster is
 * typed as a Redis here.
 */
function createRedisClient(config: StoreConfig, overrides: RedisOptions = {}): Redis {
  const options: RedisOptions = { ...FAIL_FAST_DEFAULTS, ...overrides };
  if (config.cluster_nodes) {
    const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = options;
    return new Cluster(
      config.cluster_nodes.map((node) => ({ host: node.host, port: node.port })),
      {
        lazyConnect: lazyConnect ?? true,
        enableOfflineQueue: enableOfflineQueue ?? false,
        clusterRetryStrategy: retryStrategy ? (attempt: number) => retryStrategy(attempt) : null,
        redisOptions: { ...perNode, ...(config.password !== undefined ? { password: config.password } : {}) },
      },
    ) as unknown as Redis;
  }
  if (config.sentinels) {
    return new Redis({
      ...options,
      sentinels: config.sentinels.map((node) => ({ host: node.host, port: node.port })),
      name: config.sentinel_name!,
      ...(config.password !== undefined ? { password: config.password, sentinelPassword: config.password } : {}),
      sentinelRetryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 2_000),
    });
  }
  if (!config.url) throw new Error('store.url, store.sentinels or store.cluster_nodes is required for the Redis store');
  return new Redis(config.url, options);
}

/** Where the store is, for messages and logs (never with a password). */
export function describeRedisTarget(config: StoreConfig): string {
  if (config.cluster_nodes) return `cluster ${config.cluster_nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (config.sentinels) return `sentinel master ${config.sentinel_name} via ${config.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}`;
  return redactUrl(config.url);
}

/** The scripts of lua/scripts.ts as client methods (ioredis defineCommand: EVALSHA). */
interface ScriptCommands {
  gatewayIncrement(key: string, ttlMs: number): Promise<number>;
  gatewaySetIfAbsent(key: string, value: string, ttlMs: string): Promise<string>;
  gatewayRateLimit(bucket: string, limit: number, periodMs: number, burst: number): Promise<[number, string, string]>;
  gatewayRevoke(marker: string, ttlMs: number, expiresAtMs: string, channel: string, message: string): Promise<number>;
  gatewayQueueAppend(list: string, claims: string, leases: string, maxLength: number, ...items: string[]): Promise<[number, number]>;
  gatewayQueueClaim(list: string, claims: string, leases: string, max: number, leaseMs: number, claimId: string): Promise<string[]>;
  gatewayQueueAck(list: string, claims: string, leases: string, claimId: string): Promise<number>;
  gatewayQueueRelease(list: string, claims: string, leases: string, claimId: string): Promise<number>;
  gatewayQueueLength(list: string, claims: string, leases: string): Promise<number>;
}

const SCRIPTS: Record<keyof ScriptCommands, LuaScript> = {
  gatewayIncrement: INCREMENT,
  gatewaySetIfAbsent: SET_IF_ABSENT,
  gatewayRateLimit: RATE_LIMIT,
  gatewayRevoke: REVOKE,
  gatewayQueueAppend: QUEUE_APPEND,
  gatewayQueueClaim: QUEUE_CLAIM,
  gatewayQueueAck: QUEUE_ACK,
  gatewayQueueRelease: QUEUE_RELEASE,
  gatewayQueueLength: QUEUE_LENGTH,
};

/**
 * The shared store: any number of gateway instances on one Redis agree on codes, revocations,
 * counters and rate limits. Every operation is one command or one Lua script, hence atomic.
 * Revocations are also mirrored in every instance (revocation-mirror.ts), so checking a token
 * needs no round trip.
 *
 * Connection state: `onStateChange(listener)` reports 'ready' and 'down', once per change,
 * so the gateway can log one line per transition and answer /readyz.
 */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly client: Redis & ScriptCommands;
  /** A second connection: a subscribed connection can do nothing else. */
  private readonly subscriber: Redis;
  private readonly revocations: RevocationMirror;
  private readonly keys: RedisKeys;
  private readonly listeners = new Set<RedisStateListener>();
  private currentState: RedisStoreState = 'down';
  private lastError: string | undefined;
  private closing = false;

  constructor(
    private readonly config: StoreConfig,
    options: RedisStoreOptions = {},
  ) {
    this.keys = redisKeys(config.key_prefix);
    const client = createRedisClient(config, options.redis);
    for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(name, script);
    this.client = client as Redis & ScriptCommands;
    this.client.on('ready', () => this.setState('ready'));
    this.client.on('close', () => this.setState('down'));
    // Without a listener ioredis prints every failed reconnect attempt; the state change says it once.
    this.client.on('error', (err: Error) => {
      this.lastError = err.message;
    });
    this.subscriber = createRedisClient(config, options.redis);
    this.subscriber.on('error', () => undefined);
    this.revocations = new RevocationMirror(this.client, this.subscriber, this.keys, options.revocations);
  }

  get state(): RedisStoreState {
    return this.currentState;
  }

  get availability(): StoreAvailability {
    return this.currentState === 'ready' ? 'up' : 'down';
  }

  /** Returns a function that removes the listener. */
  onStateChange(listener: RedisStateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async connect(): Promise<void> {
    if (this.client.status === 'ready' && this.subscriber.status === 'ready') return;
    this.closing = false;
    try {
      if (this.client.status !== 'ready') await this.client.connect();
      await this.revocations.start();
    } catch (err) {
      // Stop the background reconnect loops: the caller decides whether to try again.
      this.client.disconnect();
      this.subscriber.disconnect();
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`cannot connect to the Redis store at ${describeRedisTarget(this.config)}: ${this.lastError ?? reason}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.revocations.stop();
    for (const connection of [this.subscriber, this.client]) {
      try {
        await connection.quit();
      } catch {
        // Not connected: nothing to say goodbye to.
        connection.disconnect();
      }
    }
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async putOnce(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return (await this.client.set(this.keys.code(key), value, 'PX', ttlToMs(ttlSeconds), 'NX')) === 'OK';
  }

  async takeOnce(key: string): Promise<string | null> {
    return this.client.getdel(this.keys.code(key));
  }

  async revoke(jti: string, ttlSeconds: number): Promise<void> {
    // A token whose lifetime is over needs no marker: it is refused as expired anyway.
    if (!(ttlSeconds > 0)) return;
    const ttlMs = ttlToMs(ttlSeconds);
    const expiresAtMs = Date.now() + ttlMs;
    await this.client.gatewayRevoke(this.keys.revoked(jti), ttlMs, String(expiresAtMs), this.keys.revocationChannel, JSON.stringify([jti, expiresAtMs]));
    this.revocations.note(jti, expiresAtMs);
  }

  async isRevoked(jti: string): Promise<boolean> {
    const known = this.revocations.answer(jti);
    if (known !== 'unknown') return known === 'revoked';
    return (await this.client.exists(this.keys.revoked(jti))) === 1;
  }

  async increment(key: string, ttlSeconds: number): Promise<number> {
    return this.client.gatewayIncrement(this.keys.counter(key), ttlToMs(ttlSeconds));
  }

  async getCounter(key: string): Promise<number> {
    return Number((await this.client.get(this.keys.counter(key))) ?? 0);
  }

  async resetCounter(key: string): Promise<void> {
    await this.client.del(this.keys.counter(key));
  }

  async get(key: string): Promise<string | null> {
    return this.client.get(this.keys.value(key));
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    if (ttlSeconds === undefined) await this.client.set(this.keys.value(key), value);
    else await this.client.set(this.keys.value(key), value, 'PX', ttlToMs(ttlSeconds));
  }

  async setIfAbsent(key: string, value: string, ttlSeconds?: number): Promise<string> {
    const ttl = ttlSeconds === undefined ? '' : String(ttlToMs(ttlSeconds));
    return this.client.gatewaySetIfAbsent(this.keys.value(key), value, ttl);
  }

  async delete(key: string): Promise<void> {
    await this.client.del(this.keys.value(key));
  }

  async rateLimit(key: string, rule: RateLimitRule): Promise<RateLimitResult> {
    assertValidRule(rule);
    const [allowed, tat, now] = await this.client.gatewayRateLimit(this.keys.rateBucket(key), rule.limit, rule.periodSeconds * 1000, rule.burst);
    return describeScriptDecision(rule, allowed, tat, now);
  }

  /**
   * Revocation from the local mirror of the revocation list (no round trip; Redis is asked only
   * when the mirror cannot be trusted), then the client's rate limit: one script, one round trip,
   * only when a per-client limit is configured. A revoked token spends no rate allowance.
   */
  async checkToken(jti: string, rate?: { key: string; rule: RateLimitRule }): Promise<TokenStatus> {
    if (rate) assertValidRule(rate.rule);
    if (await this.isRevoked(jti)) return { revoked: true };
    return rate ? { revoked: false, rate: await this.rateLimit(rate.key, rate.rule) } : { revoked: false };
  }

  async queueAppend(queue: string, items: string[], maxLength: number): Promise<QueueAppendResult> {
    assertQueueArguments(queue, { maxLength });
    const keys = this.keys.queue(queue);
    if (items.length === 0) return { length: await this.client.gatewayQueueLength(...keys), dropped: 0 };
    let result: QueueAppendResult = { length: 0, dropped: 0 };
    for (let start = 0; start < items.length; start += QUEUE_APPEND_CHUNK) {
      const [length, dropped] = await this.client.gatewayQueueAppend(...keys, maxLength, ...items.slice(start, start + QUEUE_APPEND_CHUNK));
      result = { length, dropped: result.dropped + dropped };
    }
    return result;
  }

  async queueClaim(queue: string, max: number, leaseSeconds: number): Promise<QueueClaim | null> {
    assertQueueArguments(queue, { max, leaseSeconds });
    const id = randomUUID();
    const items = await this.client.gatewayQueueClaim(...this.keys.queue(queue), max, ttlToMs(leaseSeconds), id);
    return items.length === 0 ? null : { id, items };
  }

  async queueAck(queue: string, claimId: string): Promise<boolean> {
    assertQueueArguments(queue);
    return (await this.client.gatewayQueueAck(...this.keys.queue(queue), claimId)) === 1;
  }

  async queueRelease(queue: string, claimId: string): Promise<boolean> {
    assertQueueArguments(queue);
    return (await this.client.gatewayQueueRelease(...this.keys.queue(queue), claimId)) === 1;
  }

  async queueLength(queue: string): Promise<number> {
    assertQueueArguments(queue);
    return this.client.gatewayQueueLength(...this.keys.queue(queue));
  }

  private setState(state: RedisStoreState): void {
    if (state === this.currentState || this.closing) return;
    this.currentState = state;
    const reason = state === 'down' ? this.lastError : undefined;
    if (state === 'ready') this.lastError = undefined;
    for (const listener of this.listeners) listener(state, reason);
  }
}

/** The script's clock is the Redis server's; the header values are computed against it too. */
function describeScriptDecision(rule: RateLimitRule, allowed: number, tat: string, now: string): RateLimitResult {
  const decision: GcraDecision = { allowed: allowed === 1, tatMs: Number(tat) };
  return describeGcra(decision, rule, Number(now));
}

/** The URL without credentials, for messages and logs. */
function redactUrl(url: string | undefined): string {
  if (!url) return '(none)';
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
