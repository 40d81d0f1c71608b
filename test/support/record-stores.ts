import type { Test } from 'tap';
import { Redis } from 'ioredis';
import { MemoryStore } from '../../gateway/store/memory-store.js';
import { RedisStore } from '../../gateway/store/redis-store.js';
import type { Store } from '../../authz/store.js';
import { startRedisServerFor } from './redis-server.js';

/**
 * Runs a suite of record tests on both stores: the embedded memory store (with a clock the test
 * can move) and a RedisStore on a redis-server of its own. `ttl` reports what the store will keep
 * a key for, so lifetimes are checked on Redis without waiting for them.
 */
export interface RecordStore {
  kind: 'memory' | 'redis';
  store: Store;
  /** Milliseconds since the epoch as the records should see them (the memory store's clock; real time on Redis). */
  now(): number;
  /** Seconds left on a key written with putOnce ('once') or set ('value'); null when the key is absent or has no TTL. */
  ttl(namespace: 'once' | 'value', key: string): Promise<number | null>;
  /** Memory store only: move its clock forward (Redis keeps its own time). */
  advance?(seconds: number): void;
}

export function forBothStores(t: Test, suite: (t: Test, makeStore: (t: Test) => Promise<RecordStore>) => void): void {
  t.test('memory store', async (t) => {
    suite(t, async (tt) => {
      let clock = Date.now();
      const store = new MemoryStore({ now: () => clock });
      tt.teardown(() => store.close());
      // The memory store keeps expiry per entry; reading it is the only way to see a TTL without waiting.
      const entries = (store as unknown as { entries: Map<string, { expiresAt: number }> }).entries;
      const recordStore: RecordStore = {
        kind: 'memory',
        store,
        now: () => clock,
        async ttl(namespace, key) {
          const entry = entries.get(`${namespace === 'once' ? 'code' : 'value'}:${key}`);
          return entry === undefined || entry.expiresAt === Infinity ? null : (entry.expiresAt - clock) / 1000;
        },
        advance(seconds) {
          clock += seconds * 1000;
        },
      };
      return recordStore;
    });
  });

  t.test('redis store', async (t) => {
    const server = await startRedisServerFor(t);
    const raw = new Redis(server.url, { lazyConnect: true });
    await raw.connect();
    t.teardown(() => raw.quit());
    let stores = 0;
    suite(t, async (tt) => {
      const prefix = `records-${++stores}:`;
      const store = new RedisStore({ url: server.url, key_prefix: prefix });
      await store.connect();
      tt.teardown(() => store.close());
      return {
        kind: 'redis' as const,
        store,
        now: () => Date.now(),
        async ttl(namespace: 'once' | 'value', key: string) {
          const ms = await raw.pttl(`${prefix}${namespace === 'once' ? 'code' : 'value'}:${key}`);
          return ms < 0 ? null : ms / 1000;
        },
      };
    });
  });
}
