import type { GatewayMetrics } from '../process/metrics.js';
import { StoreUnavailableError, type Store } from '../../authz/store.js';

const OPERATIONS = [
  'ping',
  'putOnce',
  'takeOnce',
  'revoke',
  'isRevoked',
  'increment',
  'getCounter',
  'resetCounter',
  'get',
  'set',
  'setIfAbsent',
  'delete',
  'rateLimit',
  'checkAccess',
] as const;

/**
 * Times every store operation and counts failures, and turns any failure into a
 * StoreUnavailableError so callers fail closed (503) rather than answering 500.
 */
export function instrumentStore(store: Store, metrics: GatewayMetrics): Store {
  const wrapped: Record<string, unknown> = {};
  for (const op of OPERATIONS) {
    const original = (store[op] as (...args: unknown[]) => Promise<unknown>).bind(store);
    wrapped[op] = async (...args: unknown[]) => {
      const end = metrics.storeDuration.startTimer({ operation: op });
      try {
        return await original(...args);
      } catch (err) {
        metrics.storeErrors.inc({ operation: op });
        throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(err);
      } finally {
        end();
      }
    };
  }
  return Object.assign(Object.create(store) as Store, wrapped, {
    kind: store.kind,
    connect: () => store.connect(),
    close: () => store.close(),
  });
}
