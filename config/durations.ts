/**
 * Durations in the config file are written as `30s`, `5m`, `1h` or `30d`, or as a bare
 * integer meaning seconds. The loaded config always holds whole seconds.
 */

export const DURATION_HINT = 'expected a duration like 30s, 5m, 1h or 30d';

const SECONDS_PER_UNIT: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

// One unit per duration on purpose: "1h30m" is rare in gateway settings and "90m" says the same.
const DURATION_PATTERN = /^(\d+)([smhd])?$/;

/** Seconds for a duration written in the config, or undefined when it is not a valid duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const match = DURATION_PATTERN.exec(value);
  if (!match) return undefined;
  const [, amount, unit] = match;
  const seconds = Number(amount) * SECONDS_PER_UNIT[unit ?? 's']!;
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}
