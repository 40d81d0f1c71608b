import type { RateLimitResult, RateLimitRule } from '../../authz/store.js';

/**
 * GCRA (generic cell rate algorithm) -- the rate limit both stores apply. The Lua text and the
 * TypeScript twin live side by side so that a change to one is made to the other: the memory
 * store and the Redis store must give the same answers (test/store-contract.test.ts).
 *
 * Semantics (the ones nginx `limit_req rate=… burst=… nodelay` users know), for a rule
 * `limit` per `periodSeconds` with `burst`:
 *  - steady rate: one request per emission interval T = period / limit;
 *  - a rested client may send `burst + 1` requests at once (the one the steady rate allows
 *    plus `burst` extra), then one per T;
 *  - in ANY window of one period at most `limit + burst` requests pass -- no fixed window, so no
 *    double allowance around a window boundary. `limit + burst` is what RateLimit-Limit reports.
 *  `600/min, burst 50`: 10 per second sustained, 51 at once after a quiet spell, at most 650 in
 *  any minute. `burst 0` means strict pacing: one request per T.
 *
 * The config gives `burst = limit` when the operator does not write one (config/schema.ts), so
 * a plain `600/min` admits 600 requests within any minute however they bunch up (601 at once
 * after a quiet minute, then 10 per second; at most 1200 in one minute, never more than 600 per
 * minute sustained). This module takes the burst as given and has no default of its own.
 *
 * State is one number per key: the theoretical arrival time (TAT) in ms since the epoch. A
 * request at `now` passes when `max(TAT, now) - now <= tolerance` (tolerance = burst * T) and
 * then moves TAT on by T; a refused request changes nothing.
 */

export interface GcraDecision {
  allowed: boolean;
  /** TAT after this request (unchanged when refused), ms since epoch. */
  tatMs: number;
}

/** Throws on a rule that would divide by zero or never admit anything. */
export function assertValidRule(rule: RateLimitRule): void {
  if (!(rule.limit > 0) || !(rule.periodSeconds > 0) || !(rule.burst >= 0) || !Number.isFinite(rule.limit + rule.periodSeconds + rule.burst)) {
    throw new RangeError(`invalid rate limit rule ${JSON.stringify(rule)}`);
  }
}

export function gcraDecide(storedTatMs: number | undefined, rule: RateLimitRule, nowMs: number): GcraDecision {
  const interval = (rule.periodSeconds * 1000) / rule.limit;
  const tolerance = rule.burst * interval;
  const tat = Math.max(storedTatMs ?? nowMs, nowMs);
  if (tat - nowMs > tolerance) return { allowed: false, tatMs: tat };
  return { allowed: true, tatMs: tat + interval };
}

/**
 * Header values for a decision. `remaining` is how many more requests fit in the coming period
 * if spaced at the steady rate (rounded down, so never an over-promise), 0 after a refusal.
 * Seconds are exact (fractional); the HTTP layer rounds them up.
 */
export function describeGcra(decision: GcraDecision, rule: RateLimitRule, nowMs: number): RateLimitResult {
  const interval = (rule.periodSeconds * 1000) / rule.limit;
  const tolerance = rule.burst * interval;
  const capacity = rule.limit + rule.burst;
  const ahead = Math.max(0, decision.tatMs - nowMs);
  const fitting = Math.floor((rule.periodSeconds * 1000 + tolerance - ahead) / interval + 1e-9);
  return {
    allowed: decision.allowed,
    limit: capacity,
    remaining: decision.allowed ? Math.min(capacity, Math.max(0, fitting)) : 0,
    resetSeconds: ahead / 1000,
    retryAfterSeconds: decision.allowed ? 0 : (ahead - tolerance) / 1000,
  };
}

/** How long the TAT must be kept: after that it lies in the past and means "fresh bucket". */
export function gcraStateTtlMs(tatMs: number, nowMs: number): number {
  return Math.max(1, Math.ceil(tatMs - nowMs));
}

/**
 * Lua twin of gcraDecide, for inclusion in scripts. The clock is the Redis server's TIME, so
 * gateway instances with skewed clocks still share one timeline. Numbers travel back as
 * strings because Redis truncates Lua floats to integers.
 * Defines: gcra_now_ms() and gcra_step(key, limit, period_ms, burst, now_ms) -> allowed(0|1), tat.
 */
export const GCRA_LUA = `
local function gcra_now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end

local function gcra_step(key, limit, period_ms, burst, now_ms)
  local interval = period_ms / limit
  local tolerance = burst * interval
  local stored = redis.call('GET', key)
  local tat = now_ms
  if stored then tat = math.max(tonumber(stored), now_ms) end
  if tat - now_ms > tolerance then return 0, tat end
  local new_tat = tat + interval
  redis.call('SET', key, string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now_ms)))
  return 1, new_tat
end
`;
