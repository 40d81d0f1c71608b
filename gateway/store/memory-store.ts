import { randomUUID } from 'node:crypto';
import { assertValidRule, describeGcra, gcraDecide, gcraStateTtlMs } from './gcra.js';
import type { QueueAppendResult, QueueClaim, RateLimitResult, RateLimitRule, Store, TokenStatus } from '../../authz/store.js';
import { assertQueueArguments } from './queue-arguments.js';
import { ttlToMs } from './ttl.js';

interface MemoryStoreOptions {
  /** Clock in ms since the epoch; tests inject one to move time without sleeping. */
  now?: () => number;
  /** How often expired entries are dropped even if nobody reads them again. */
  sweepIntervalMs?: number;
}

interface Entry {
  value: string;
  /** ms since epoch; Infinity = no expiry. */
  expiresAt: number;
}

interface Queue {
  waiting: string[];
  /** Claims in the order they were made; `deadline` in ms since the epoch. */
  claims: Map<string, { items: string[]; deadline: number }>;
}

const DEFAULT_SWEEP_INTERVAL_MS = 10_000;

/**
 * The embedded store: one process, nothing shared, so it serves a single gateway instance.
 * Same semantics as the Redis store (test/gateway/store/store-contract.test.ts runs against both). Every
 * operation is synchronous inside, which is what makes takeOnce/setIfAbsent atomic here.
 * Expiry is checked on read; the sweep keeps memory bounded for keys never read again
 * (authorization codes never redeemed, rate buckets of clients that went away).
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  // In the process itself: it cannot be unreachable.
  readonly availability = 'up' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly queues = new Map<string, Queue>();
  private readonly now: () => number;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
    // The sweep must never be what keeps the process alive.
    this.sweeper.unref();
  }

  /** Live and not-yet-swept entries, for tests and metrics. */
  get size(): number {
    return this.entries.size;
  }

  async connect(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  async ping(): Promise<void> {}

  async putOnce(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const ttlMs = ttlToMs(ttlSeconds);
    if (this.read(`code:${key}`) !== null) return false;
    this.write(`code:${key}`, value, ttlMs);
    return true;
  }

  async takeOnce(key: string): Promise<string | null> {
    const value = this.read(`code:${key}`);
    this.entries.delete(`code:${key}`);
    return value;
  }

  async revoke(jti: string, ttlSeconds: number): Promise<void> {
    // A token whose lifetime is over needs no marker: it is refused as expired anyway.
    if (!(ttlSeconds > 0)) return;
    this.write(`revoked:${jti}`, '1', ttlToMs(ttlSeconds));
  }

  async isRevoked(jti: string): Promise<boolean> {
    return this.read(`revoked:${jti}`) !== null;
  }

  async increment(key: string, ttlSeconds: number): Promise<number> {
    const ttlMs = ttlToMs(ttlSeconds);
    const current = this.read(`counter:${key}`);
    if (current === null) {
      this.write(`counter:${key}`, '1', ttlMs);
      return 1;
    }
    const next = Number(current) + 1;
    // The expiry stays the one set by the first increment.
    this.entries.get(`counter:${key}`)!.value = String(next);
    return next;
  }

  async getCounter(key: string): Promise<number> {
    return Number(this.read(`counter:${key}`) ?? 0);
  }

  async resetCounter(key: string): Promise<void> {
    this.entries.delete(`counter:${key}`);
  }

  async get(key: string): Promise<string | null> {
    return this.read(`value:${key}`);
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    this.write(`value:${key}`, value, ttlSeconds === undefined ? undefined : ttlToMs(ttlSeconds));
  }

  async setIfAbsent(key: string, value: string, ttlSeconds?: number): Promise<string> {
    const ttlMs = ttlSeconds === undefined ? undefined : ttlToMs(ttlSeconds);
    const existing = this.read(`value:${key}`);
    if (existing !== null) return existing;
    this.write(`value:${key}`, value, ttlMs);
    return value;
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(`value:${key}`);
  }

  async rateLimit(key: string, rule: RateLimitRule): Promise<RateLimitResult> {
    assertValidRule(rule);
    return this.rateStep(key, rule);
  }

  async checkToken(jti: string, rate?: { key: string; rule: RateLimitRule }): Promise<TokenStatus> {
    if (rate) assertValidRule(rate.rule);
    // As in the Redis script: a revoked token spends no rate allowance.
    if (this.read(`revoked:${jti}`) !== null) return { revoked: true };
    return rate ? { revoked: false, rate: this.rateStep(rate.key, rate.rule) } : { revoked: false };
  }

  async queueAppend(queue: string, items: string[], maxLength: number): Promise<QueueAppendResult> {
    assertQueueArguments(queue, { maxLength });
    const { waiting } = this.queue(queue);
    // A loop, not push(...items): spreading a very long array would overflow the call stack.
    for (const item of items) waiting.push(item);
    const dropped = Math.max(0, waiting.length - maxLength);
    waiting.splice(0, dropped);
    return { length: waiting.length, dropped };
  }

  async queueClaim(queue: string, max: number, leaseSeconds: number): Promise<QueueClaim | null> {
    assertQueueArguments(queue, { max, leaseSeconds });
    const state = this.queue(queue);
    this.returnExpiredClaims(state);
    if (state.waiting.length === 0) return null;
    const id = randomUUID();
    const items = state.waiting.splice(0, max);
    state.claims.set(id, { items, deadline: this.now() + leaseSeconds * 1000 });
    return { id, items };
  }

  async queueAck(queue: string, claimId: string): Promise<boolean> {
    assertQueueArguments(queue);
    const state = this.queue(queue);
    this.returnExpiredClaims(state);
    return state.claims.delete(claimId);
  }

  async queueRelease(queue: string, claimId: string): Promise<boolean> {
    assertQueueArguments(queue);
    const state = this.queue(queue);
    this.returnExpiredClaims(state);
    const claim = state.claims.get(claimId);
    if (!claim) return false;
    state.claims.delete(claimId);
    state.waiting.unshift(...claim.items);
    return true;
  }

  async queueLength(queue: string): Promise<number> {
    assertQueueArguments(queue);
    const state = this.queue(queue);
    this.returnExpiredClaims(state);
    return state.waiting.length;
  }

  private queue(name: string): Queue {
    let state = this.queues.get(name);
    if (!state) this.queues.set(name, (state = { waiting: [], claims: new Map() }));
    return state;
  }

  /** A claim whose holder did not ack or release in time goes back to the head (earliest deadline first in line). */
  private returnExpiredClaims(state: Queue): void {
    const now = this.now();
    const expired = [...state.claims].filter(([, claim]) => claim.deadline <= now).sort(([, a], [, b]) => a.deadline - b.deadline);
    for (const [id] of expired) state.claims.delete(id);
    state.waiting.unshift(...expired.flatMap(([, claim]) => claim.items));
  }

  private rateStep(key: string, rule: RateLimitRule): RateLimitResult {
    const now = this.now();
    const stored = this.read(`rl:${key}`);
    const decision = gcraDecide(stored === null ? undefined : Number(stored), rule, now);
    if (decision.allowed) this.write(`rl:${key}`, String(decision.tatMs), gcraStateTtlMs(decision.tatMs, now));
    return describeGcra(decision, rule, now);
  }

  private read(key: string): string | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return null;
    }
    return entry.value;
  }

  private write(key: string, value: string, ttlMs: number | undefined): void {
    this.entries.set(key, { value, expiresAt: ttlMs === undefined ? Infinity : this.now() + ttlMs });
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
