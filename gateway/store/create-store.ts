import type { StoreConfig } from '../../config/types.js';
import { MemoryStore } from './memory-store.js';
import { RedisStore, describeRedisTarget } from './redis-store.js';
import type { Store } from '../../authz/store.js';

interface StoreLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Redis when `store.url`, `store.sentinels` or `store.cluster_nodes` is set, else the embedded store. Redis connection changes are logged
 * once per transition (not once per failed reconnect attempt), so an outage is two lines.
 */
export function createStore(config: StoreConfig, log: StoreLog): Store {
  if (!config.url && !config.sentinels && !config.cluster_nodes) {
    log.warn(
      { store: 'memory' },
      'embedded in-memory store: it serves this single gateway instance only; configure store.url (Redis) to run several',
    );
    return new MemoryStore();
  }
  const url = describeRedisTarget(config);
  const store = new RedisStore(config);
  store.onStateChange((state, reason) => {
    if (state === 'ready') log.info({ store: 'redis', url }, 'Redis store ready');
    else log.warn({ store: 'redis', url, reason }, 'Redis store unreachable; requests needing it fail with 503 until it is back');
  });
  log.info({ store: 'redis', url }, 'using the Redis store');
  return store;
}
