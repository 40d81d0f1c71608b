import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '../../store.js';
import {
  FAILURE_DELAY_CAP_MS,
  FAILURE_DELAY_STEP_MS,
  FAILURE_WINDOW_SECONDS,
  LOCKOUT_SECONDS,
  MAX_FAILURES_PER_IP,
  MAX_FAILURES_PER_USERNAME,
} from '../settings.js';
import { sha256Hex } from '../../crypto/random-token.js';

/**
 * Slows down and then locks out password guessing, per username and per client IP, with
 * counters in the store so every gateway instance sees the same attempts. A username is
 * counted whether or not it exists, so a lockout reveals nothing about which ones do.
 */
interface LoginAttempt {
  username: string;
  ip: string;
}

interface Subject {
  counter: string;
  lock: string;
  limit: number;
}

function subjects(attempt: LoginAttempt): Subject[] {
  // Hashed: usernames are user input of any length and character set.
  const user = sha256Hex(attempt.username);
  const ip = sha256Hex(attempt.ip);
  return [
    { counter: `login-failures:user:${user}`, lock: `login-lock:user:${user}`, limit: MAX_FAILURES_PER_USERNAME },
    { counter: `login-failures:ip:${ip}`, lock: `login-lock:ip:${ip}`, limit: MAX_FAILURES_PER_IP },
  ];
}

interface ThrottleOptions {
  /** Tests pass a no-op to keep runs fast; the delay itself is unit-tested via `failureDelayMs`. */
  sleep?: (ms: number) => Promise<unknown>;
}

export class LoginThrottle {
  constructor(
    private readonly store: Store,
    private readonly options: ThrottleOptions = {},
  ) {}

  /** True while the username or the IP is locked out; the password is then not even checked. */
  async isLocked(attempt: LoginAttempt): Promise<boolean> {
    const locks = await Promise.all(subjects(attempt).map((s) => this.store.get(s.lock)));
    return locks.some((lock) => lock !== null);
  }

  /** Counts a failure, locks what reached its limit, then waits longer the more failures there were. */
  async recordFailure(attempt: LoginAttempt): Promise<void> {
    let worst = 0;
    for (const subject of subjects(attempt)) {
      const failures = await this.store.increment(subject.counter, FAILURE_WINDOW_SECONDS);
      worst = Math.max(worst, failures);
      if (failures >= subject.limit) {
        await this.store.set(subject.lock, '1', LOCKOUT_SECONDS);
        await this.store.resetCounter(subject.counter);
      }
    }
    await (this.options.sleep ?? sleep)(failureDelayMs(worst));
  }

  /** A correct password clears the username's count (the IP's stays: one success proves little). */
  async recordSuccess(attempt: LoginAttempt): Promise<void> {
    await this.store.resetCounter(subjects(attempt)[0]!.counter);
  }
}

function failureDelayMs(failures: number): number {
  return Math.min(failures * FAILURE_DELAY_STEP_MS, FAILURE_DELAY_CAP_MS);
}
