import { StoreUnavailableError, type Store, type StoreLifecycle } from '../../authz/store.js';
import type { GatewayMetrics } from '../process/metrics.js';

/** Connection management is passed through as is; everything else is an operation. */
const LIFECYCLE: ReadonlySet<PropertyKey> = new Set(['connect', 'close'] satisfies (keyof StoreLifecycle)[]);

/**
 * Times every store operation and counts failures, and turns any failure into a
 * StoreUnavailableError so callers fail closed (503) rather than answering 500.
 *
 * The wrapping is derived from the store itself (every method it has, but connect and close),
 * not from a list of operations kept by hand: a new operation on the Store interface is timed
 * and fails closed without anyone remembering to add it here.
 */
export function instrumentStore(store: Store, metrics: GatewayMetrics): Store {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property) {
      // Getters such as `availability` run against the real store, whose private fields they read.
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function' || LIFECYCLE.has(property) || typeof property !== 'string') return value;
      let timed = wrapped.get(property);
      if (timed === undefined) {
        timed = timedOperation(property, value as (...args: unknown[]) => Promise<unknown>, target, metrics);
        wrapped.set(property, timed);
      }
      return timed;
    },
  });
}

function timedOperation(operation: string, method: (...args: unknown[]) => Promise<unknown>, store: Store, metrics: GatewayMetrics) {
  // The labelled series, looked up once: prom-client hashes label objects on every call otherwise.
  const duration = metrics.storeDuration.labels(operation);
  const errors = metrics.storeErrors.labels(operation);
  return async (...args: unknown[]) => {
    const end = duration.startTimer();
    try {
      return await method.apply(store, args);
    } catch (err) {
      errors.inc();
      throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(err);
    } finally {
      end();
    }
  };
}

