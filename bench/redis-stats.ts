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

/**
 * Commands the gateway sends on timers, whatever the traffic (the revocation channel's liveness
 * probe): counted apart, since no request causes them and they do not grow with requests.
 */
const TIMER_COMMANDS: ReadonlySet<string> = new Set(['ping']);

export interface MonitorCount {
  requests: number;
  /** Commands the gateway sent per request (round trips, unless it pipelines), by command. */
  clientPerRequest: Record<string, number>;
  clientTotalPerRequest: number;
  /** Timer commands seen during the window, divided by the requests (for the record). */
  timerPerRequest: Record<string, number>;
  /** Commands Lua scripts ran inside Redis per request (no extra round trip). */
  scriptPerRequest: Record<string, number>;
}

/**
 * Runs `fn` (which sends `requests` sequential requests) with a MONITOR connection open, and
 * counts the commands Redis saw, telling client-sent commands from those run inside Lua
 * (MONITOR marks them with source "lua"). Done on a few sequential requests outside the
 * measured rounds, because MONITOR slows Redis down.
 */
export async function monitorDuring(url: string, requests: number, fn: () => Promise<void>): Promise<MonitorCount> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  const monitor = await client.monitor();
  const fromClient: CommandCalls = {};
  const fromScript: CommandCalls = {};
  const fromTimers: CommandCalls = {};
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const cmd = String(args[0] ?? '').toLowerCase();
    if (cmd === 'monitor') return;
    const bucket = source === 'lua' ? fromScript : TIMER_COMMANDS.has(cmd) ? fromTimers : fromClient;
    bucket[cmd] = (bucket[cmd] ?? 0) + 1;
  });
  // MONITOR only reports commands issued after it started; give the server a moment.
  await new Promise((r) => setTimeout(r, 100));
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    monitor.disconnect();
    client.disconnect();
  }
  const client1 = perRequest(fromClient, requests);
  return {
    requests,
    clientPerRequest: client1.byCommand,
    clientTotalPerRequest: client1.total,
    timerPerRequest: perRequest(fromTimers, requests).byCommand,
    scriptPerRequest: perRequest(fromScript, requests).byCommand,
  };
}
