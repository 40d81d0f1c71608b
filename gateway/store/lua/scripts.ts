import { GCRA_LUA } from '../gcra.js';

/**
 * The Lua scripts the Redis store runs: each is one atomic step and one round trip. Registered
 * with ioredis `defineCommand`, so they travel as EVALSHA (EVAL only the first time on a
 * connection). In Redis Cluster all KEYS of one script must share a hash slot: see the key
 * layout in ../redis-keys.ts.
 */
export interface LuaScript {
  lua: string;
  numberOfKeys: number;
}

/** KEYS[1] counter; ARGV[1] ttl ms. INCR and the first increment's expiry, never one without the other. */
export const INCREMENT: LuaScript = {
  numberOfKeys: 1,
  lua: `
local value = redis.call('INCR', KEYS[1])
if value == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return value
`,
};

/** KEYS[1] value; ARGV[1] value, ARGV[2] ttl ms or '' for none. Returns the value now stored. */
export const SET_IF_ABSENT: LuaScript = {
  numberOfKeys: 1,
  lua: `
local current = redis.call('GET', KEYS[1])
if current then return current end
if ARGV[2] == '' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return ARGV[1]
`,
};

/** KEYS[1] bucket; ARGV limit, period ms, burst. Returns {allowed, tat, now} (ms as strings). */
export const RATE_LIMIT: LuaScript = {
  numberOfKeys: 1,
  lua: `${GCRA_LUA}
local now = gcra_now_ms()
local allowed, tat = gcra_step(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), now)
return {allowed, string.format('%.3f', tat), string.format('%.3f', now)}
`,
};

/**
 * The proxy's hot path. KEYS[1] revocation marker, KEYS[2] bucket; ARGV limit, period ms, burst.
 * Returns {1} when revoked (a revoked token spends no rate allowance), else
 * {0, allowed, tat, now}.
 */
export const CHECK_TOKEN: LuaScript = {
  numberOfKeys: 2,
  lua: `${GCRA_LUA}
if redis.call('EXISTS', KEYS[1]) == 1 then return {1} end
local now = gcra_now_ms()
local allowed, tat = gcra_step(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), now)
return {0, allowed, string.format('%.3f', tat), string.format('%.3f', now)}
`,
};
