/**
 * `npm run bench`: the gateway against a bare http-proxy, on one machine, in one run, with the
 * rows measured in alternating rounds (a,b,b2,c,c2,... a,b,...) so that machine drift hits every
 * row alike. Each server under test runs in its own child process (compiled JavaScript, as
 * production runs); autocannon runs here.
 *
 * Environment knobs (defaults give a run of about 4 minutes on 2 cores):
 *   BENCH_ROUNDS=3  BENCH_WARMUP=1  BENCH_SECONDS=4  BENCH_CONNECTIONS=50
 *   BENCH_TOKENS=10000  BENCH_RSS_SECONDS=10 (the second RSS run is twice as long)
 *   BENCH_GATEWAY_LOG=info-devnull (the default an operator gets) | warn
 *   BENCH_ROWS=a,b,b2,c,c2,d,e,e2,f,f2,token,rss (subset)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../config/loader.js';
import { startChild, type ServerChild } from './children.js';
import { runLoad, type LoadSpec } from './load.js';
import { diffCalls, monitorDuring, perRequest, RedisStats, type MonitorCount } from './redis-stats.js';
import { evaluateTargets, machineInfo, renderTable, summarize, type RoundRecord, type RowId, type RowReport, type RssReport } from './report.js';

const env = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const ROUNDS = Math.min(10, env('BENCH_ROUNDS', 3));
const WARMUP = Math.min(10, env('BENCH_WARMUP', 1));
const SECONDS = Math.min(60, env('BENCH_SECONDS', 4));
const CONNECTIONS = Math.min(500, env('BENCH_CONNECTIONS', 50));
const TOKENS = Math.min(20_000, env('BENCH_TOKENS', 10_000));
const RSS_SECONDS = Math.min(120, env('BENCH_RSS_SECONDS', 10));
const GATEWAY_LOG = process.env.BENCH_GATEWAY_LOG === 'warn' ? 'warn' : 'info-devnull';
const ONLY = new Set((process.env.BENCH_ROWS ?? 'a,b,b2,c,c2,d,e,e2,f,f2,token,rss').split(',').map((s) => s.trim()));
/** Whole-run watchdog: nothing below may keep the bench alive longer than this. */
const WATCHDOG_MS = 8 * 60_000;

/** A single-resource read (streamed) and a search (its Bundle rewritten, its paging link signed). */
const READ_PATH = '/Patient/example';
const SEARCH_PATH = '/Patient?name=smith&_count=10';
/** The forwarder an operator gets without `upstream.forwarder`, and the one the (f) rows compare it with. */
const DEFAULT_FORWARDER = parseConfig(JSON.stringify({ server: { public_url: 'http://x' }, upstream: { url: 'http://x' } }), 'defaults', {}).upstream.forwarder;
const OTHER_FORWARDER = DEFAULT_FORWARDER === 'undici' ? 'http-proxy' : 'undici';
const CLIENT_ID = 'bench-backend';
const CLIENT_SECRET = 'bench-secret-0123456789abcdef';

const children: ServerChild[] = [];
let redis: { url: string; stop(): Promise<void> } | undefined;
let redisStats: RedisStats | undefined;

async function cleanup(): Promise<void> {
  await Promise.allSettled(children.map((c) => c.stop()));
  await redisStats?.close();
  await redis?.stop().catch(() => undefined);
}

const watchdog = setTimeout(() => {
  console.error(`bench: still running after ${WATCHDOG_MS / 1000}s, giving up`);
  void cleanup().finally(() => process.exit(2));
}, WATCHDOG_MS);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => void cleanup().finally(() => process.exit(130)));
}

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

async function tryStart(name: string, script: string, args: string[]): Promise<ServerChild | string> {
  try {
    const child = await startChild(name, script, args);
    children.push(child);
    return child;
  } catch (err) {
    return (err as Error).message;
  }
}

async function status(url: string, init: RequestInit = {}): Promise<number> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  return res.status;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const notes: string[] = [];
  notes.push(
    `gateway logging: ${GATEWAY_LOG === 'warn' ? "level 'warn' (no request log lines), audit log on" : "request log at 'info' and audit log on, both written to /dev/null (the defaults an operator gets)"}; ` +
      `${CONNECTIONS} connections; ${ROUNDS} alternating rounds of ${WARMUP}s warm-up + ${SECONDS}s measured; medians over rounds shown`,
  );

  // --- Redis (a throwaway redis-server on a free port) ---
  let redisProblem: string | undefined;
  const wantRedis = ['c', 'd', 'token', 'rss'].some((r) => ONLY.has(r));
  if (wantRedis) {
    try {
      const { startRedisServer } = await import('../test/support/redis-server.js');
      const started = await startRedisServer();
      redis = started;
      redisStats = new RedisStats(started.url);
      await redisStats.connect();
    } catch (err) {
      redisProblem = `no Redis: ${(err as Error).message}`;
      log(redisProblem);
    }
  }

  // --- Servers under test, each in its own process ---
  const upstream = await startChild('upstream', 'upstream', []);
  children.push(upstream);
  const upstreamBase = `${upstream.url}/fhir`;
  const gwArgs = ['--upstream', upstreamBase, '--log', GATEWAY_LOG];
  const wantRedisGateway = redis && ['c', 'c2', 'd', 'token', 'rss'].some((r) => ONLY.has(r));
  const [bare, gwRedis, gwMemory, gwProbe, gwOther, gwNoLimit] = await Promise.all([
    // (b) is the baseline every ratio needs: always started.
    tryStart('bare-proxy', 'bare-proxy', ['--upstream', upstreamBase]),
    wantRedisGateway ? tryStart('gateway-redis', 'gateway', [...gwArgs, '--redis', redis!.url]) : Promise.resolve(redisProblem ?? 'not selected'),
    ['e', 'e2'].some((r) => ONLY.has(r)) ? tryStart('gateway-memory', 'gateway', gwArgs) : Promise.resolve('not selected'),
    // Rate-limit probe: same gateway, a limit of 1 request/min, to see whether startGateway enforces it.
    ['c', 'd', 'e'].some((r) => ONLY.has(r)) ? tryStart('gateway-probe', 'gateway', [...gwArgs, '--per-client', '1/min', '--burst', '0']) : Promise.resolve('not selected'),
    // (f), (f2): as (e), (e2) with the other forwarder, to compare the two in one run.
    ['f', 'f2'].some((r) => ONLY.has(r)) ? tryStart('gateway-other-forwarder', 'gateway', [...gwArgs, '--forwarder', OTHER_FORWARDER]) : Promise.resolve('not selected'),
    // Without a per-client limit a proxied request needs no store round trip at all: counted with MONITOR.
    wantRedisGateway ? tryStart('gateway-redis-no-limit', 'gateway', [...gwArgs, '--redis', redis!.url, '--per-client', 'none']) : Promise.resolve('not selected'),
  ]);
  for (const [name, c] of [
    ['bare-proxy', bare],
    ['gateway-redis', gwRedis],
    ['gateway-memory', gwMemory],
    ['gateway-probe', gwProbe],
    ['gateway-other-forwarder', gwOther],
    ['gateway-redis-no-limit', gwNoLimit],
  ] as const) {
    if (typeof c === 'string' && c !== 'not selected') log(`${name} unavailable: ${c.split('\n')[0]}`);
  }
  log(`servers up after ${((Date.now() - t0) / 1000).toFixed(1)}s`);

  // --- Tokens: minted by the gateway itself (its key ring), the Redis one when there is one ---
  let rot = 0;
  const primary = typeof gwRedis !== 'string' ? gwRedis : typeof gwMemory !== 'string' ? gwMemory : undefined;
  const primaryStore = primary === gwRedis ? 'Redis' : 'embedded';
  let tokens: string[] = [];
  let memoryToken: string | undefined;
  if (primary) {
    const t = Date.now();
    tokens = await primary.request<string[]>('mint', { count: TOKENS }, 120_000);
    log(`minted ${tokens.length} tokens in ${((Date.now() - t) / 1000).toFixed(1)}s`);
  }
  if (typeof gwMemory !== 'string') memoryToken = primary === gwMemory ? tokens[0] : (await gwMemory.request<string[]>('mint', { count: 1 }))[0];
  const otherToken = typeof gwOther !== 'string' ? (await gwOther.request<string[]>('mint', { count: 1 }))[0] : undefined;
  const noLimitToken = typeof gwNoLimit !== 'string' ? (await gwNoLimit.request<string[]>('mint', { count: 1 }))[0] : undefined;
  const rotateTokens = () => ({ authorization: `Bearer ${tokens[rot++ % tokens.length]}` });

  // --- Rate limit enforced? ---
  let rateLimit = 'unknown (probe gateway did not start)';
  if (typeof gwProbe !== 'string') {
    const [probeToken] = await gwProbe.request<string[]>('mint', { count: 1 });
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push(await status(gwProbe.url + READ_PATH, { headers: { authorization: `Bearer ${probeToken}` } }));
    rateLimit = codes.includes(429) ? 'enforced' : codes.every((c) => c === 200) ? 'not yet enforced (no 429 from a 1/min limit)' : `unclear (probe statuses ${codes.join(',')})`;
    await gwProbe.stop();
    children.splice(children.indexOf(gwProbe), 1);
  }
  notes.push(`rate limit (per_client, checked with a 1/min probe gateway): ${rateLimit}` + (rateLimit === 'enforced' ? '; bench gateways run with 1000000/s so it is checked but never refuses' : ''));

  // --- Rows ---
  const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64');
  interface RowDef {
    report: RowReport;
    server?: ServerChild;
    spec?: Omit<LoadSpec, 'connections' | 'warmupSeconds' | 'measureSeconds'>;
    redisCounted: boolean;
  }
  const skip = (c: ServerChild | string | undefined, extra?: string): string | undefined =>
    extra ?? (c === undefined ? 'server not started' : typeof c === 'string' ? c.split('\n')[0] : undefined);
  const row = (id: RowId, label: string, server: ServerChild | string | undefined, spec: RowDef['spec'], redisCounted = false, unit: 'req/s' | 'tokens/s' = 'req/s', extraSkip?: string): RowDef => {
    const skipped = !ONLY.has(id) ? 'not selected (BENCH_ROWS)' : skip(server, extraSkip);
    return {
      report: { id, label, unit, rounds: [], ...(skipped ? { skipped } : {}) },
      ...(typeof server !== 'string' && server && !skipped ? { server, spec } : {}),
      redisCounted,
    };
  };
  const at = (server: ServerChild | string, path: string, token?: string): NonNullable<RowDef['spec']> => ({
    url: typeof server === 'string' ? '' : server.url,
    path,
    ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
  const rows: RowDef[] = [
    row('a', 'direct upstream (node:http), read of a ~1 KB Patient', upstream, { url: upstreamBase, path: '/fhir' + READ_PATH }),
    row('b', 'bare http-proxy, keep-alive, no auth, read (baseline)', bare, at(bare, READ_PATH)),
    row('b2', 'bare http-proxy, search, ~1 KB Bundle of 10 (baseline)', bare, at(bare, SEARCH_PATH)),
    row('c', 'gateway, Redis, all checks, 1 token, read', gwRedis, at(gwRedis, READ_PATH, tokens[0]), true),
    row('c2', 'gateway, Redis, all checks, 1 token, search', gwRedis, at(gwRedis, SEARCH_PATH, tokens[0]), true),
    row('d', `gateway, Redis, ${TOKENS} distinct tokens rotating, read`, gwRedis, { ...at(gwRedis, READ_PATH), rotate: rotateTokens }, true),
    row('e', `gateway, embedded store, read (${DEFAULT_FORWARDER}, the default)`, gwMemory, at(gwMemory, READ_PATH, memoryToken)),
    row('e2', `gateway, embedded store, search (${DEFAULT_FORWARDER})`, gwMemory, at(gwMemory, SEARCH_PATH, memoryToken)),
    row('f', `as (e), forwarding with ${OTHER_FORWARDER}`, gwOther, at(gwOther, READ_PATH, otherToken)),
    row('f2', `as (e2), forwarding with ${OTHER_FORWARDER}`, gwOther, at(gwOther, SEARCH_PATH, otherToken)),
    row('token', `token endpoint, client_credentials, ${primaryStore} store`, primary ?? 'no gateway started', {
      url: primary?.url ?? '',
      path: '/oauth/token',
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=system%2FPatient.rs',
    }, false, 'tokens/s'),
  ];

  // Sanity: every row must answer 2xx once before it is measured.
  for (const r of rows) {
    if (!r.server || !r.spec) continue;
    const headers = { ...(r.spec.headers ?? {}), ...(r.spec.rotate?.() ?? {}) };
    const code = await status(r.spec.url + r.spec.path, { method: r.spec.method ?? 'GET', headers, ...(r.spec.body ? { body: r.spec.body } : {}) }).catch(
      (err: Error) => err.message as unknown as number,
    );
    if (code !== 200) {
      r.report.skipped = `sanity request answered ${code}`;
      delete r.server;
      log(`row (${r.report.id}) skipped: ${r.report.skipped}`);
    }
  }

  // Redis round trips per proxied request: a few sequential requests under MONITOR (outside the rounds).
  const roundTrips: Partial<Record<RowId, MonitorCount>> = {};
  for (const r of rows) {
    if (!r.redisCounted || !r.server || !r.spec || !redis) continue;
    const spec = r.spec;
    const n = 50;
    roundTrips[r.report.id] = await monitorDuring(redis.url, n, async () => {
      for (let i = 0; i < n; i++) {
        await status(spec.url + spec.path, { headers: { ...(spec.headers ?? {}), ...(spec.rotate?.() ?? {}) } });
      }
    });
    const m = roundTrips[r.report.id]!;
    const fmtCounts = (c: Record<string, number>) => Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    notes.push(
      `(${r.report.id}) Redis commands sent per proxied request (MONITOR, ${n} sequential requests): ${m.clientTotalPerRequest} [${fmtCounts(m.clientPerRequest)}]` +
        `; run inside Lua: [${fmtCounts(m.scriptPerRequest)}]; on timers, not per request: [${fmtCounts(m.timerPerRequest)}]`,
    );
  }

  // The same count on a gateway without a per-client limit: no store round trip at all.
  let noLimitTrips: MonitorCount | undefined;
  if (redis && typeof gwNoLimit !== 'string' && noLimitToken) {
    const n = 50;
    noLimitTrips = await monitorDuring(redis.url, n, async () => {
      for (let i = 0; i < n; i++) await status(gwNoLimit.url + READ_PATH, { headers: { authorization: `Bearer ${noLimitToken}` } });
    });
    notes.push(
      `no per-client limit: Redis commands sent per proxied request (MONITOR, ${n} sequential reads): ${noLimitTrips.clientTotalPerRequest}` +
        `; on timers, not per request: [${Object.entries(noLimitTrips.timerPerRequest).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}]`,
    );
    await gwNoLimit.stop();
    children.splice(children.indexOf(gwNoLimit), 1);
  }

  const serverOf = (r: RowDef) => (r.report.id === 'a' ? upstream : r.server!);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const r of rows) {
      if (!r.server || !r.spec) continue;
      const server = serverOf(r);
      const cpuBefore = await server.request<NodeJS.CpuUsage>('cpu');
      const redisBefore = r.redisCounted && redisStats ? await redisStats.commandCalls() : undefined;
      const result = await runLoad({ ...r.spec, connections: CONNECTIONS, warmupSeconds: WARMUP, measureSeconds: SECONDS });
      const cpuAfter = await server.request<NodeJS.CpuUsage>('cpu');
      const record: RoundRecord = { ...result, round };
      const cpuUs = cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system;
      if (result.totalResponses > 0) record.serverCpuUsPerRequest = cpuUs / result.totalResponses;
      if (redisBefore && redisStats) {
        const per = perRequest(diffCalls(redisBefore, await redisStats.commandCalls()), result.totalResponses);
        record.redisCmdsPerRequest = per.total;
        record.redisByCommand = per.byCommand;
      }
      r.report.rounds.push(record);
      log(
        `round ${round}/${ROUNDS} (${r.report.id}) ${Math.round(result.rps)} ${r.report.unit}, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms` +
          (result.non2xx || result.errors ? `, non-2xx ${result.non2xx}, errors ${result.errors} ${JSON.stringify(result.statusCodes)}` : ''),
      );
    }
  }

  // Memory of every server process after the rounds, for context (after a forced GC).
  const childRss: Record<string, number> = {};
  for (const c of children) {
    childRss[c.name] = (await c.request<{ rss: number }>('rss').catch(() => ({ rss: NaN }))).rss;
  }
  notes.push(
    'RSS after the rounds (after GC): ' +
      Object.entries(childRss)
        .map(([k, v]) => `${k} ${(v / 1048576).toFixed(1)} MB`)
        .join(', '),
  );

  // --- RSS: a long run with TOKENS distinct tokens, then one twice as long (same process) ---
  const rss: RssReport = { tokens: tokens.length, shortSeconds: RSS_SECONDS, longSeconds: RSS_SECONDS * 2 };
  if (!ONLY.has('rss')) rss.skipped = 'not selected (BENCH_ROWS)';
  else if (!primary) rss.skipped = 'no gateway started';
  else {
    // The gateway process of (c)/(d) (Redis store; the embedded one if Redis is unavailable),
    // with the same rotation over the same tokens as row (d).
    rss.store = primaryStore;
    const spec = { url: primary.url, path: READ_PATH, rotate: rotateTokens, connections: CONNECTIONS };
    const sample = () => primary.request<{ rss: number; heapUsed: number }>('rss');
    rss.beforeRss = (await sample()).rss;
    const short = await runLoad({ ...spec, warmupSeconds: 0.001, measureSeconds: RSS_SECONDS });
    const s1 = await sample();
    log(`RSS after ${RSS_SECONDS}s: ${(s1.rss / 1048576).toFixed(1)} MB`);
    const long = await runLoad({ ...spec, warmupSeconds: 0.001, measureSeconds: RSS_SECONDS * 2 });
    const s2 = await sample();
    log(`RSS after a further ${RSS_SECONDS * 2}s: ${(s2.rss / 1048576).toFixed(1)} MB`);
    Object.assign(rss, {
      afterShortRss: s1.rss,
      afterLongRss: s2.rss,
      afterShortHeap: s1.heapUsed,
      afterLongHeap: s2.heapUsed,
      shortRps: short.rps,
      longRps: long.rps,
      changePercent: ((s2.rss - s1.rss) / s1.rss) * 100,
    });
  }

  // --- Report ---
  const reports = rows.map((r) => r.report);
  summarize(reports);
  const targets = evaluateTargets(reports, rss, {
    withLimit: roundTrips.c?.clientTotalPerRequest,
    withoutLimit: noLimitTrips?.clientTotalPerRequest,
  });
  const redisVersion = redisStats ? await redisStats.version().catch(() => 'unknown') : undefined;
  const elapsed = (Date.now() - t0) / 1000;
  notes.push(`total bench time ${elapsed.toFixed(0)}s`);
  const table = renderTable(reports, rss, targets, notes);
  process.stdout.write('\n' + table + '\n');

  const json = {
    machine: machineInfo(redisVersion ? { redis: redisVersion } : {}),
    settings: { rounds: ROUNDS, warmup_seconds: WARMUP, measure_seconds: SECONDS, connections: CONNECTIONS, tokens: TOKENS, rss_seconds: RSS_SECONDS, gateway_log: GATEWAY_LOG, read_path: READ_PATH, search_path: SEARCH_PATH, default_forwarder: DEFAULT_FORWARDER },
    rate_limit: rateLimit,
    redis_round_trips: { ...roundTrips, ...(noLimitTrips ? { without_per_client_limit: noLimitTrips } : {}) },
    child_rss_after_rounds: childRss,
    rows: reports,
    rss,
    targets,
    notes,
    elapsed_seconds: Math.round(elapsed),
  };
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  await mkdir(dir, { recursive: true });
  await writeFile(dir + 'latest.json', JSON.stringify(json, null, 2) + '\n');
  log(`wrote bench/results/latest.json`);
}

try {
  await main();
} catch (err) {
  console.error('bench failed:', err);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await cleanup();
}
