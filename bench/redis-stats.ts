/** Store-side counters for the Redis rows: how many Redis commands one proxied request costs. */
import { Redis } from 'ioredis';

export type CommandCalls = Record<string, number>;

export class RedisStats {
  private readonly client: Redis;
  constructor(url: string) {
    this.client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  }
  connect(): Promise<void> {
    return this.client.connect();
  }
  async close(): Promise<void> {
    this.client.disconnect();
  }
  async version(): Promise<string> {
    const info = await this.client.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  }
  /** `INFO commandstats` as {command: calls}, minus the INFO calls this class makes itself. */
  async commandCalls(): Promise<CommandCalls> {
    const text = await this.client.info('commandstats');
    const out: CommandCalls = {};
    for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (m[1] === 'info') continue;
      out[m[1]!] = Number(m[2]);
    }
    return out;
  }
}

/** after - before, per command; only commands that moved. */
export function diffCalls(before: CommandCalls, after: CommandCalls): CommandCalls {
  const out: CommandCalls = {};
  for (const [cmd, calls] of Object.entries(after)) {
    const d = calls - (before[cmd] ?? 0);
    if (d > 0) out[cmd] = d;
  }
  return out;
}

export function perRequest(diff: CommandCalls, requests: number): { total: number; byCommand: Record<string, number> } {
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const [cmd, calls] of Object.entries(diff)) {
    total += calls;
    byCommand[cmd] = requests > 0 ? round(calls / requests, 3) : NaN;
  }
  return { total: requests > 0 ? round(total / requests, 3) : NaN, byCommand };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
