import type { LuaScript } from './scripts.js';

/**
 * The bounded FIFO queue of QueueStore (../store.ts) on Redis. Three keys per queue, which share a
 * hash tag so that every script runs on one Cluster slot (../redis-store.ts, queueKeys):
 *   KEYS[1] list   the waiting items, head = oldest
 *   KEYS[2] hash   claim id -> JSON array of the claimed items
 *   KEYS[3] zset   claim id scored by its lease deadline (ms, Redis server clock)
 * The clock is the Redis server's TIME, so leases mean the same to every gateway instance.
 *
 * Every script first puts claims whose lease ran out back at the head of the list (earliest
 * deadline first in line), so a dead sender's items are recovered by whoever touches the queue
 * next, and an ack or release after the deadline finds nothing.
 */
const RETURN_EXPIRED_LUA = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function return_expired(list, claims, leases, now)
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
  -- Pushed latest deadline first, item by item from the back, so the earliest ends up at the head.
  for i = #expired, 1, -1 do
    local encoded = redis.call('HGET', claims, expired[i])
    if encoded then
      local items = cjson.decode(encoded)
      for j = #items, 1, -1 do redis.call('LPUSH', list, items[j]) end
    end
    redis.call('HDEL', claims, expired[i])
    redis.call('ZREM', leases, expired[i])
  end
end
`;

/** ARGV[1] maxLength, ARGV[2..] items (at most QUEUE_APPEND_CHUNK). Returns {length, dropped}. */
export const QUEUE_APPEND: LuaScript = {
  numberOfKeys: 3,
  lua: `${RETURN_EXPIRED_LUA}
return_expired(KEYS[1], KEYS[2], KEYS[3], now_ms())
local length = redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
local max = tonumber(ARGV[1])
local dropped = 0
if length > max then
  dropped = length - max
  redis.call('LTRIM', KEYS[1], dropped, -1)
  length = max
end
return {length, dropped}
`,
};

/** Items per QUEUE_APPEND call: Lua's unpack() has a stack limit of a few thousand values. */
export const QUEUE_APPEND_CHUNK = 1000;

/** ARGV[1] max, ARGV[2] lease ms, ARGV[3] claim id. Returns the claimed items (empty: nothing waits). */
export const QUEUE_CLAIM: LuaScript = {
  numberOfKeys: 3,
  lua: `${RETURN_EXPIRED_LUA}
local now = now_ms()
return_expired(KEYS[1], KEYS[2], KEYS[3], now)
local items = redis.call('LPOP', KEYS[1], tonumber(ARGV[1]))
if not items then return {} end
redis.call('HSET', KEYS[2], ARGV[3], cjson.encode(items))
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[3])
return items
`,
};

/** ARGV[1] claim id. Forgets the claim; returns 1, or 0 when it was unknown. */
export const QUEUE_ACK: LuaScript = {
  numberOfKeys: 3,
  lua: `${RETURN_EXPIRED_LUA}
return_expired(KEYS[1], KEYS[2], KEYS[3], now_ms())
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
`,
};

/** ARGV[1] claim id. Puts the claim's items back at the head in order; returns 1, or 0 when it was unknown. */
export const QUEUE_RELEASE: LuaScript = {
  numberOfKeys: 3,
  lua: `${RETURN_EXPIRED_LUA}
return_expired(KEYS[1], KEYS[2], KEYS[3], now_ms())
local encoded = redis.call('HGET', KEYS[2], ARGV[1])
if not encoded then return 0 end
local items = cjson.decode(encoded)
for j = #items, 1, -1 do redis.call('LPUSH', KEYS[1], items[j]) end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`,
};

/** Waiting items, after returning expired claims. */
export const QUEUE_LENGTH: LuaScript = {
  numberOfKeys: 3,
  lua: `${RETURN_EXPIRED_LUA}
return_expired(KEYS[1], KEYS[2], KEYS[3], now_ms())
return redis.call('LLEN', KEYS[1])
`,
};
