import { setTimeout as sleep } from 'node:timers/promises';
import { LOGIN_PROTECTION_DEFAULTS } from '../../../config/schema.js';
import type { LoginProtectionConfig } from '../../../config/types.js';
import type { Runtime } from '../../runtime.js';
import type { Store } from '../../store.js';
import { FAILURE_DELAY_CAP_MS, FAILURE_DELAY_STEP_MS } from '../settings.js';
import { sha256Hex } from '../../crypto/random-token.js';

/**
 * Slows down and then locks out password guessing, per username and per client IP, with
 * counters in the store so every gateway instance sees the same attempts. A username is
 * counted whether or not it exists, so a lockout reveals nothing about which ones do.
 *
 * The thresholds are the operator's (`login_protection`, defaults LOGIN_PROTECTION_DEFAULTS),
 * read from the runtime snapshot of the request, so a reload applies to the next attempt.
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

function subjects(attempt: LoginAttempt, protection: LoginProtectionConfig): Subject[] {
  // Hashed: usernames are user input of any length and character set.
  const user = sha256Hex(attempt.username);
  const ip = sha256Hex(attempt.ip);
  return [
    { counter: `login-failures:user:${user}`, lock: `login-lock:user:${user}`, limit: protection.max_failures_per_username },
    { counter: `login-failures:ip:${ip}`, lock: `login-lock:ip:${ip}`, limit: protection.max_failures_per_ip },
  ];
}

interface ThrottleOptions {
  /** Tests pass a no-op to keep runs fast; the delay itself is unit-tested via `failureDelayMs`. */
  sleep?: (ms: number) => Promise<unknown>;
}

export class LoginThrottle {
  private readonly store: Store;
  private readonly protection: LoginProtectionConfig;

  constructor(
    runtime: Pick<Runtime, 'store' | 'config'>,
    private readonly options: ThrottleOptions = {},
  ) {
    this.store = runtime.store;
    this.protection = runtime.config.login_protection ?? LOGIN_PROTECTION_DEFAULTS;
  }

  /** True while the username or the IP is locked out; the password is then not even checked. */
  async isLocked(attempt: LoginAttempt): Promise<boolean> {
    const locks = await Promise.all(subjects(attempt, this.protection).map((s) => this.store.get(s.lock)));
    return locks.some((lock) => lock !== null);
  }

  /**
   * Counts a failure, locks what reached its limit (the failure that reaches it is the last one
   * answered as a wrong password), then waits longer the more failures there were.
   */
  async recordFailure(attempt: LoginAttempt): Promise<void> {
    let worst = 0;
    for (const subject of subjects(attempt, this.protection)) {
      const failures = await this.store.increment(subject.counter, this.protection.failure_window);
      worst = Math.max(worst, failures);
      if (failures >= subject.limit) {
        await this.store.set(subject.lock, '1', this.protection.lockout);
        await this.store.resetCounter(subject.counter);
      }
    }
    await (this.options.sleep ?? sleep)(failureDelayMs(worst));
  }

  /** A correct password clears the username's count (the IP's stays: one success proves little). */
  async recordSuccess(attempt: LoginAttempt): Promise<void> {
    await this.store.resetCounter(subjects(attempt, this.protection)[0]!.counter);
  }
}

function failureDelayMs(failures: number): number {
  return Math.min(failures * FAILURE_DELAY_STEP_MS, FAILURE_DELAY_CAP_MS);
}
