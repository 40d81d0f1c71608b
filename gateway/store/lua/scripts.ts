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
 * A revocation, for the store and for every instance at once: KEYS[1] the marker; ARGV[1] ttl ms,
 * ARGV[2] expiry (epoch ms, the marker's value, read back by instances that reload), ARGV[3] the
 * channel, ARGV[4] the message. One script, so a marker is never written without its message.
 */
export const REVOKE: LuaScript = {
  numberOfKeys: 1,
  lua: `
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`,
};
