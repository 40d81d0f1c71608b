import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares secrets without leaking, through timing, how many leading characters matched or
 * how long the expected secret is: both sides are hashed to a fixed length first.
 */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
