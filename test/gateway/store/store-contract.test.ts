import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createStore } from '../../../gateway/store/create-store.js';
import { MemoryStore } from '../../../gateway/store/memory-store.js';
import { RedisStore, type RedisStoreState } from '../../../gateway/store/redis-store.js';
import type { RateLimitRule, Store } from '../../../authz/store.js';
import { freePort } from '../../support/free-port.js';
import { startRedisServerFor } from '../../support/redis-server.js';

/**
 * One contract, two implementations: whatever the gateway relies on must hold for the embedded
 * store and for Redis alike. Everything runs on real clocks (Redis keeps time itself).
 */
type MakeStore = (t: Test) => Promise<Store>;

const TEN_PER_SECOND: RateLimitRule = { limit: 10, periodSeconds: 1, burst: 0 };
const TEN_PER_SECOND_BURST_4: RateLimitRule = { limit: 10, periodSeconds: 1, burst: 4 };

function contract(t: Test, makeStore: MakeStore): void {
  t.test('putOnce/takeOnce: a value is taken once', async (t) => {
    const store = await makeStore(t);
    t.equal(await store.putOnce('code-1', 'payload', 60), true);
    t.equal(await store.putOnce('code-1', 'other', 60), false, 'an existing key is not overwritten');
    t.equal(await store.takeOnce('code-1'), 'payload');
    t.equal(await store.takeOnce('code-1'), null, 'the second take finds nothing');
    t.equal(await store.takeOnce('never-stored'), null);
    t.equal(await store.putOnce('code-1', 'again', 60), true, 'after the take the key is free again');
  });

  t.test('50 concurrent takeOnce: exactly one winner', async (t) => {
    const store = await makeStore(t);
    await store.putOnce('race', 'the-code', 60);
    const results = await Promise.all(Array.from({ length: 50 }, () => store.takeOnce('race')));
    t.same(results.filter((r) => r !== null), ['the-code']);
  });

  t.test('TTLs expire; a counter expires ttl after its FIRST increment', async (t) => {
    const store = await makeStore(t);
    await store.putOnce('short-code', 'v', 1);
    await store.revoke('short-jti', 1);
    await store.set('short-value', 'v', 1);
    t.equal(await store.setIfAbsent('short-sia', 'v', 1), 'v');
    t.equal(await store.increment('short-counter', 1), 1);
    await store.set('forever', 'v');

    await sleep(600);
    t.equal(await store.increment('short-counter', 1), 2, 'still counting within the ttl');
    t.equal(await store.isRevoked('short-jti'), true, 'still revoked before the ttl');

    await sleep(550);
    t.equal(await store.takeOnce('short-code'), null, 'code expired');
    t.equal(await store.isRevoked('short-jti'), false, 'revocation expired with the token');
    t.equal(await store.get('short-value'), null, 'value expired');
    t.equal(await store.get('short-sia'), null, 'setIfAbsent value expired');
    t.equal(await store.getCounter('short-counter'), 0, 'the second increment did not extend the expiry');
    t.equal(await store.increment('short-counter', 1), 1, 'counting starts over');
    t.equal(await store.get('forever'), 'v', 'no ttl, no expiry');
  });

  t.test('TTLs must be positive; a revocation of an already expired token is a no-op', async (t) => {
    const store = await makeStore(t);
    await t.rejects(store.putOnce('k', 'v', 0), RangeError);
    await t.rejects(store.increment('k', -1), RangeError);
    await t.rejects(store.set('k', 'v', Number.NaN), RangeError);
    await store.revoke('gone', 0);
    t.equal(await store.isRevoked('gone'), false);
  });

  t.test('revoke/isRevoked', async (t) => {
    const store = await makeStore(t);
    t.equal(await store.isRevoked('jti-a'), false);
    await store.revoke('jti-a', 60);
    t.equal(await store.isRevoked('jti-a'), true);
    t.equal(await store.isRevoked('jti-b'), false, 'only that token');
  });

  t.test('increment/getCounter/resetCounter, concurrent increments all count', async (t) => {
    const store = await makeStore(t);
    t.equal(await store.getCounter('c'), 0);
    t.equal(await store.increment('c', 60), 1);
    t.equal(await store.increment('c', 60), 2);
    t.equal(await store.getCounter('c'), 2);
    await store.resetCounter('c');
    t.equal(await store.getCounter('c'), 0);
    const values = await Promise.all(Array.from({ length: 20 }, () => store.increment('c', 60)));
    t.same([...values].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1), 'each caller saw a distinct value');
    t.equal(await store.getCounter('c'), 20);
  });

  t.test('get/set/delete and a 20-way setIfAbsent race', async (t) => {
    const store = await makeStore(t);
    t.equal(await store.get('v'), null);
    await store.set('v', 'one');
    await store.set('v', 'two');
    t.equal(await store.get('v'), 'two', 'set overwrites');
    await store.delete('v');
    t.equal(await store.get('v'), null);

    const candidates = Array.from({ length: 20 }, (_, i) => `key-material-${i}`);
    const results = await Promise.all(candidates.map((c) => store.setIfAbsent('signing-key', c)));
    t.equal(new Set(results).size, 1, 'every caller got the same value');
    t.ok(candidates.includes(results[0]!), 'the value is one of the candidates');
    t.equal(await store.get('signing-key'), results[0]);
    t.equal(await store.setIfAbsent('signing-key', 'late'), results[0], 'a later caller gets the stored value');
  });

  t.test('rate limit, burst 0: strict pacing, one at once', async (t) => {
    const store = await makeStore(t);
    const results = await Promise.all(Array.from({ length: 5 }, () => store.rateLimit('paced', TEN_PER_SECOND)));
    t.equal(results.filter((r) => r.allowed).length, 1);
  });

  t.test('rate limit, burst 4: burst + 1 at once, header values consistent', async (t) => {
    const store = await makeStore(t);
    const rule = TEN_PER_SECOND_BURST_4;
    const results = await Promise.all(Array.from({ length: 10 }, () => store.rateLimit('bursty', rule)));
    const allowed = results.filter((r) => r.allowed);
    const refused = results.filter((r) => !r.allowed);
    t.equal(allowed.length, 5, 'burst + 1 pass at once');
    t.same(
      allowed.map((r) => r.remaining).sort((a, b) => b - a),
      [13, 12, 11, 10, 9],
      'remaining counts down from limit + burst = 14 (what still fits in the coming period)',
    );
    for (const r of results) t.equal(r.limit, 14, 'RateLimit-Limit is limit + burst');
    for (const r of allowed) t.equal(r.retryAfterSeconds, 0);
    for (const r of refused) {
      t.equal(r.remaining, 0, 'nothing remains right after a refusal');
      t.ok(r.retryAfterSeconds > 0 && r.retryAfterSeconds <= 0.1, `retry after one emission interval at most (${r.retryAfterSeconds})`);
      t.ok(r.resetSeconds > 0.4 && r.resetSeconds <= 0.5, `full again after 5 intervals (${r.resetSeconds})`);
    }

    const last = refused[0]!;
    await sleep(last.retryAfterSeconds * 1000 + 15);
    t.equal((await store.rateLimit('bursty', rule)).allowed, true, 'Retry-After is truthful');

    // A slow timer may have let allowance build up again: spend it, then wait for a full bucket.
    let drained = await store.rateLimit('bursty', rule);
    for (let i = 0; i < 5 && drained.allowed; i++) drained = await store.rateLimit('bursty', rule);
    t.equal(drained.allowed, false, 'drained again');
    await sleep(drained.resetSeconds * 1000 + 15);
    const fresh = await Promise.all(Array.from({ length: 6 }, () => store.rateLimit('bursty', rule)));
    t.equal(fresh.filter((r) => r.allowed).length, 5, 'after resetSeconds the whole burst is back');
  });

  t.test('rate limit: at most limit + burst in a period, even across a clock-second boundary', async (t) => {
    const store = await makeStore(t);
    const rule = TEN_PER_SECOND_BURST_4;
    // Start mid-second: a fixed one-second window would hand out a second full allowance
    // at the boundary, letting up to 2 * 14 through in this run.
    await sleep(1500 - (Date.now() % 1000));
    const started = Date.now();
    let passed = 0;
    let firstBatchDone = 0;
    let lastBatchSent = 0;
    while (Date.now() - started < 900) {
      lastBatchSent = Date.now();
      const batch = await Promise.all(Array.from({ length: 4 }, () => store.rateLimit('window', rule)));
      firstBatchDone ||= Date.now();
      passed += batch.filter((r) => r.allowed).length;
      await sleep(5);
    }
    const elapsed = Date.now() - started;
    t.ok(elapsed < 1000, `the run fits in one period (${elapsed} ms)`);
    // Every request was decided inside [started, started + elapsed], less than one period.
    t.ok(passed <= 14, `no more than limit + burst passed (${passed})`);
    // The burst went in the first batch; after it, one per 100 ms, however slow the loop was.
    const steadyMinimum = 5 + Math.floor((lastBatchSent - firstBatchDone) / 100) - 1;
    t.ok(passed >= steadyMinimum, `and the steady rate kept admitting requests (${passed} >= ${steadyMinimum})`);
  });

  t.test('checkToken: revocation and rate limit in one call', async (t) => {
    const store = await makeStore(t);
    const rule: RateLimitRule = { limit: 2, periodSeconds: 60, burst: 0 };
    t.same(await store.checkToken('jti-ok'), { revoked: false }, 'without a rate only revocation');

    const first = await store.checkToken('jti-ok', { key: 'client-a', rule });
    t.equal(first.revoked, false);
    t.equal(first.rate?.allowed, true);
    t.equal(first.rate?.limit, 2);
    const second = await store.checkToken('jti-ok', { key: 'client-a', rule });
    t.equal(second.rate?.allowed, false, 'the same bucket as the first call');
    t.equal((await store.rateLimit('client-a', rule)).allowed, false, 'and the same bucket as rateLimit()');

    await store.revoke('jti-bad', 60);
    for (let i = 0; i < 3; i++) t.same(await store.checkToken('jti-bad', { key: 'client-b', rule }), { revoked: true });
    t.same(await store.checkToken('jti-bad'), { revoked: true });
    const afterRevoked = await store.rateLimit('client-b', rule);
    t.equal(afterRevoked.allowed, true, 'a revoked token spent none of its client allowance');
    t.equal(afterRevoked.remaining, 1);
  });

  t.test('invalid rate rules are refused, not divided by', async (t) => {
    const store = await makeStore(t);
    await t.rejects(store.rateLimit('k', { limit: 0, periodSeconds: 1, burst: 0 }), RangeError);
    await t.rejects(store.checkToken('j', { key: 'k', rule: { limit: 1, periodSeconds: 0, burst: 0 } }), RangeError);
    await t.rejects(store.rateLimit('k', { limit: 1, periodSeconds: 1, burst: -1 }), RangeError);
  });
}

t.test('memory store', async (t) => {
  contract(t, async (t) => {
    const store = new MemoryStore();
    await store.connect();
    t.teardown(() => store.close());
    return store;
  });

  t.test('the sweep drops expired entries nobody reads again', async (t) => {
    let now = 1_000_000;
    const store = new MemoryStore({ now: () => now, sweepIntervalMs: 10 });
    t.teardown(() => store.close());
    for (let i = 0; i < 1000; i++) await store.putOnce(`code-${i}`, 'v', 1);
    await store.rateLimit('client', TEN_PER_SECOND);
    await store.set('kept', 'v');
    t.equal(store.size, 1002);
    now += 1_001;
    await sleep(50);
    t.equal(store.size, 1, 'only the entry without expiry is left');
  });
});

t.test('redis store', async (t) => {
  const server = await startRedisServerFor(t);
  let stores = 0;
  const makeRedisStore = async (t: Test, prefix = `contract-${++stores}:`) => {
    const store = new RedisStore({ url: server.url, key_prefix: prefix });
    await store.connect();
    t.teardown(() => store.close());
    return store;
  };

  contract(t, (t) => makeRedisStore(t));

  t.test('checkToken is exactly one round trip (one EVALSHA)', async (t) => {
    const store = await makeRedisStore(t);
    const rate = { key: 'client', rule: TEN_PER_SECOND };
    await store.checkToken('warm-up', rate); // the first call on a connection sends the script body (EVAL)

    const admin = new Redis(server.url);
    const monitor = await admin.monitor();
    t.teardown(() => {
      monitor.disconnect();
      admin.disconnect();
    });
    const seen: { source: string; command: string }[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ source, command: String(args[0]).toLowerCase() }));
    await sleep(50);

    const before = await commandCalls(admin);
    await store.checkToken('jti', rate);
    const after = await commandCalls(admin);
    await sleep(50);

    const fromClients = seen.filter((s) => s.source !== 'lua' && s.command !== 'info');
    t.same(fromClients.map((s) => s.command), ['evalsha'], 'one command from the store');

    // commandstats also counts what the script runs inside; those are accounted for by MONITOR's "lua" lines.
    const insideScript = new Map<string, number>();
    for (const s of seen.filter((s) => s.source === 'lua')) insideScript.set(s.command, (insideScript.get(s.command) ?? 0) + 1);
    const delta = diffCalls(before, after);
    t.same(delta, { evalsha: 1, info: 1, ...Object.fromEntries(insideScript) }, 'commandstats: one EVALSHA, the INFO itself, and the script internals');
    t.ok(insideScript.has('exists') && insideScript.has('time'), 'revocation check and server clock inside the script');
  });

  t.test('key prefixes isolate two stores on one server', async (t) => {
    const a = await makeRedisStore(t, 'tenant-a:');
    const b = await makeRedisStore(t, 'tenant-b:');
    await a.set('shared-name', 'from-a');
    await b.set('shared-name', 'from-b');
    t.equal(await a.get('shared-name'), 'from-a');
    t.equal(await b.get('shared-name'), 'from-b');
    t.equal(await a.putOnce('code', 'a', 60), true);
    t.equal(await b.putOnce('code', 'b', 60), true, 'codes do not collide');
    await a.revoke('jti', 60);
    t.equal(await b.isRevoked('jti'), false);
    await a.increment('n', 60);
    t.equal(await b.getCounter('n'), 0);
    t.equal((await a.rateLimit('client', TEN_PER_SECOND)).allowed, true);
    t.equal((await b.rateLimit('client', TEN_PER_SECOND)).allowed, true, 'separate rate buckets');
  });

  t.test('connect() rejects quickly when nothing listens', async (t) => {
    const port = await freePort();
    const store = new RedisStore({ url: `redis://:secret@127.0.0.1:${port}/0`, key_prefix: 'x:' });
    t.teardown(() => store.close());
    const started = Date.now();
    const error = await store.connect().then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    t.ok(error, 'rejected');
    t.match(error?.message, new RegExp(`cannot connect to the Redis store at redis://127\\.0\\.0\\.1:${port}/0`));
    t.notMatch(error?.message, /secret/, 'the password is not in the message');
    t.ok(Date.now() - started < 1000, `within a second (${Date.now() - started} ms)`);
  });
});

t.test('redis store outages', async (t) => {
  t.test('commands fail fast after a crash; the same store object recovers after restart', async (t) => {
    const server = await startRedisServerFor(t);
    const store = new RedisStore({ url: server.url, key_prefix: 'outage:' });
    const states: RedisStoreState[] = [];
    store.onStateChange((state) => states.push(state));
    await store.connect();
    t.teardown(() => store.close());
    await store.set('before', 'v');

    await server.kill();
    const rate = { key: 'client', rule: TEN_PER_SECOND };
    const operations: [string, () => Promise<unknown>][] = [
      ['checkToken', () => store.checkToken('jti', rate)],
      ['get', () => store.get('before')],
      ['ping', () => store.ping()],
    ];
    for (const [name, operation] of operations) {
      const started = Date.now();
      await t.rejects(operation(), `${name} rejects while Redis is down`);
      t.ok(Date.now() - started < 2000, `${name} failed within 2 s (${Date.now() - started} ms)`);
    }
    await waitForState(store, 'down', 1000);

    await server.restart();
    await waitForState(store, 'ready', 5000);
    t.same(states, ['ready', 'down', 'ready'], 'one notification per change');
    t.equal(await store.get('before'), null, 'no persistence configured: the data is gone');
    const check = await store.checkToken('jti', rate);
    t.equal(check.rate?.allowed, true, 'the hot path works again without a new store');
  });

  t.test('a command on a hung server times out instead of waiting', async (t) => {
    const server = await startRedisServerFor(t);
    const store = new RedisStore({ url: server.url, key_prefix: 'hung:' });
    await store.connect();
    t.teardown(() => store.close());
    process.kill(server.pid, 'SIGSTOP');
    const started = Date.now();
    try {
      await t.rejects(store.checkToken('jti', { key: 'client', rule: TEN_PER_SECOND }));
      t.ok(Date.now() - started < 2000, `failed within 2 s (${Date.now() - started} ms)`);
    } finally {
      process.kill(server.pid, 'SIGCONT');
    }
  });

  t.test('with appendonly, data survives kill and restart', async (t) => {
    const server = await startRedisServerFor(t, { appendonly: true });
    const store = new RedisStore({ url: server.url, key_prefix: 'durable:' });
    await store.connect();
    t.teardown(() => store.close());
    await store.putOnce('code', 'payload', 60);
    await store.revoke('jti', 60);
    await store.set('signing-key', 'material');
    await store.increment('failures', 60);

    await server.kill();
    await server.restart();
    await waitForState(store, 'ready', 5000);
    t.equal(await store.get('signing-key'), 'material');
    t.equal(await store.isRevoked('jti'), true);
    t.equal(await store.getCounter('failures'), 1);
    t.equal(await store.takeOnce('code'), 'payload');
  });
});

t.test('createStore', async (t) => {
  t.test('no url: the embedded store, with a warning that it serves one instance', async (t) => {
    const log = recordingLog();
    const store = createStore({ key_prefix: 'gw:' }, log);
    t.teardown(() => store.close());
    t.equal(store.kind, 'memory');
    t.equal(log.lines.length, 1);
    t.match(log.lines[0], { level: 'warn', msg: /single gateway instance only/ });
  });

  t.test('a url: the Redis store, one log line per connection change', async (t) => {
    const server = await startRedisServerFor(t);
    const log = recordingLog();
    const store = createStore({ url: server.url, key_prefix: 'gw:' }, log);
    t.teardown(() => store.close());
    t.equal(store.kind, 'redis');
    await store.connect();
    await server.kill();
    await server.restart();
    await waitForState(store as RedisStore, 'ready', 5000);
    t.same(
      log.lines.map((l) => `${l.level} ${l.msg}`),
      [
        'info using the Redis store',
        'info Redis store ready',
        'warn Redis store unreachable; requests needing it fail with 503 until it is back',
        'info Redis store ready',
      ],
    );
  });
});

function recordingLog() {
  const lines: { level: string; obj: object; msg: string }[] = [];
  return {
    lines,
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj, msg }),
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }),
  };
}

async function waitForState(store: RedisStore, wanted: RedisStoreState, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (store.state !== wanted) {
    if (Date.now() > deadline) throw new Error(`store did not become ${wanted} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

async function commandCalls(admin: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const match of (await admin.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
  return calls;
}

function diffCalls(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [command, count] of after) {
    const grown = count - (before.get(command) ?? 0);
    if (grown > 0) delta[command] = grown;
  }
  return delta;
}
