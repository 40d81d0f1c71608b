import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '../../store.js';
import { randomToken } from '../../crypto/random-token.js';

/**
 * Mutual exclusion across every gateway instance for a read-modify-write of records that the
 * Store interface can only get and set whole. The lease is a `putOnce` key (SET NX with a TTL on
 * Redis): whoever creates it holds it; it expires on its own if the holder dies, so a crash
 * never locks the records for longer than the lease.
 *
 * Callers keep the critical section to a few store round trips (milliseconds), far below the
 * lease; a holder stalled beyond it (a long GC pause, a partitioned instance) could overlap with
 * the next holder, which is the one case this does not cover.
 */
export class LeaseBusyError extends Error {
  constructor(name: string) {
    super(`${name} is being changed by another request; try again`);
    this.name = 'LeaseBusyError';
  }
}

export interface LeaseOptions {
  /** Seconds the lease lives if never released. */
  ttlSeconds?: number;
  /** How long to keep trying before giving up (ms). */
  waitMs?: number;
}

const DEFAULT_TTL_SECONDS = 5;
const DEFAULT_WAIT_MS = 2_000;
const RETRY_MIN_MS = 10;
const RETRY_JITTER_MS = 30;

/** Runs `critical` while holding the lease `name`; throws LeaseBusyError (fail closed) if it cannot be had in time. */
export async function withLease<T>(store: Store, name: string, critical: () => Promise<T>, options: LeaseOptions = {}): Promise<T> {
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  const deadline = Date.now() + (options.waitMs ?? DEFAULT_WAIT_MS);
  const key = `lease:${name}`;
  const holder = randomToken(16);
  while (!(await store.putOnce(key, holder, ttlSeconds))) {
    if (Date.now() >= deadline) throw new LeaseBusyError(name);
    await sleep(RETRY_MIN_MS + Math.random() * RETRY_JITTER_MS);
  }
  try {
    return await critical();
  } finally {
    const taken = await store.takeOnce(key);
    // Ours expired and someone else's lease was taken instead: give it back. (Only after a stall
    // longer than the lease; its holder gets a fresh full lease, which errs on the safe side.)
    if (taken !== null && taken !== holder) await store.putOnce(key, taken, ttlSeconds);
  }
}
