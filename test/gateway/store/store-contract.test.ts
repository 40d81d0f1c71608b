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

  queueContract(t, makeStore);
}

/** Queue operations: the bounded FIFO behind the AuditEvent sender. */
function queueContract(t: Test, makeStore: MakeStore): void {
  const numbered = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `item-${from + i}`);

  t.test('queue: FIFO through append, claim and ack', async (t) => {
    const store = await makeStore(t);
    t.equal(await store.queueClaim('q', 10, 60), null, 'nothing to claim in an empty queue');
    t.same(await store.queueAppend('q', numbered(1, 3), 100), { length: 3, dropped: 0 });
    t.same(await store.queueAppend('q', numbered(4, 5), 100), { length: 5, dropped: 0 });
    t.same(await store.queueAppend('q', [], 100), { length: 5, dropped: 0 }, 'an empty append changes nothing');
    const first = await store.queueClaim('q', 2, 60);
    t.same(first?.items, ['item-1', 'item-2'], 'oldest first');
    t.equal(await store.queueLength('q'), 3, 'claimed items no longer wait');
    const second = await store.queueClaim('q', 10, 60);
    t.same(second?.items, ['item-3', 'item-4', 'item-5'], 'at most what waits');
    t.not(first?.id, second?.id);
    t.equal(await store.queueAck('q', first!.id), true);
    t.equal(await store.queueAck('q', first!.id), false, 'a claim is acked once');
    t.equal(await store.queueAck('q', second!.id), true);
    t.equal(await store.queueClaim('q', 10, 60), null, 'acked items are gone');
    t.equal(await store.queueLength('q'), 0);
  });

  t.test('queue: items are kept byte for byte', async (t) => {
    const store = await makeStore(t);
    const items = ['{"resourceType":"AuditEvent","x":"\\u0000 \\" / \\\\"}', 'Müller, 山田 😀', '', ' spaced ', 'a\nb\r\n', 'nul:\u0000:end', '[1,2]', '{}'];
    await store.queueAppend('bytes', items, 100);
    const claim = await store.queueClaim('bytes', 100, 60);
    t.same(claim?.items, items);
  });

  t.test('queue: beyond maxLength the oldest are dropped and counted', async (t) => {
    const store = await makeStore(t);
    t.same(await store.queueAppend('bounded', numbered(1, 4), 5), { length: 4, dropped: 0 });
    t.same(await store.queueAppend('bounded', numbered(5, 7), 5), { length: 5, dropped: 2 });
    t.same(await store.queueAppend('bounded', numbered(8, 20), 5), { length: 5, dropped: 13 }, 'one append longer than the bound keeps its newest');
    t.same((await store.queueClaim('bounded', 10, 60))?.items, numbered(16, 20));
    const many = numbered(1, 2500);
    t.same(await store.queueAppend('big', many, 2400), { length: 2400, dropped: 100 }, 'long appends too');
    t.same((await store.queueClaim('big', 3, 60))?.items, ['item-101', 'item-102', 'item-103']);
  });

  t.test('queue: a released claim goes back to the head, ahead of newer items', async (t) => {
    const store = await makeStore(t);
    await store.queueAppend('r', numbered(1, 5), 100);
    const claim = await store.queueClaim('r', 3, 60);
    await store.queueAppend('r', ['item-6'], 100);
    t.equal(await store.queueRelease('r', claim!.id), true);
    t.equal(await store.queueRelease('r', claim!.id), false, 'released once');
    t.equal(await store.queueAck('r', claim!.id), false, 'a released claim cannot be acked');
    t.equal(await store.queueLength('r'), 6);
    t.same((await store.queueClaim('r', 10, 60))?.items, numbered(1, 6), 'the original order');
  });

  t.test('queue: released items may exceed the bound until the next append trims the oldest', async (t) => {
    const store = await makeStore(t);
    await store.queueAppend('over', numbered(1, 5), 5);
    const claim = await store.queueClaim('over', 3, 60);
    t.same(await store.queueAppend('over', numbered(6, 8), 5), { length: 5, dropped: 0 }, 'claimed items do not count against the bound');
    await store.queueRelease('over', claim!.id);
    t.equal(await store.queueLength('over'), 8, 'nothing that was appended within the bound is lost on release');
    t.same(await store.queueAppend('over', ['item-9'], 5), { length: 5, dropped: 4 });
    t.same((await store.queueClaim('over', 10, 60))?.items, numbered(5, 9));
  });

  t.test('queue: 10 concurrent claimers never share an item', async (t) => {
    const store = await makeStore(t);
    await store.queueAppend('race', numbered(1, 40), 100);
    const claims = await Promise.all(Array.from({ length: 10 }, () => store.queueClaim('race', 5, 60)));
    const granted = claims.filter((claim) => claim !== null);
    t.equal(granted.length, 8, '40 items, 5 per claim: 8 claims get items, 2 find the queue empty');
    const all = granted.flatMap((claim) => claim.items);
    t.equal(new Set(all).size, 40, 'no item given twice');
    t.same([...all].sort((a, b) => Number(a.slice(5)) - Number(b.slice(5))), numbered(1, 40), 'and none missing');
    for (const claim of granted) t.same(claim.items, [...claim.items].sort((a, b) => Number(a.slice(5)) - Number(b.slice(5))), 'each claim in order');
  });

  t.test('queue: an expired lease gives the items back (at the head) to the next claim', async (t) => {
    const store = await makeStore(t);
    await store.queueAppend('lease', numbered(1, 4), 100);
    const abandoned = await store.queueClaim('lease', 2, 1);
    t.same(abandoned?.items, ['item-1', 'item-2']);
    t.equal(await store.queueLength('lease'), 2);
    await sleep(1100);
    t.equal(await store.queueLength('lease'), 4, 'back in the queue');
    const next = await store.queueClaim('lease', 10, 60);
    t.same(next?.items, numbered(1, 4), 'in the original order');
    t.equal(await store.queueAck('lease', abandoned!.id), false, 'the late holder learns its claim is gone');
    t.equal(await store.queueAck('lease', next!.id), true);
  });

  t.test('queue: queues are independent', async (t) => {
    const store = await makeStore(t);
    await store.queueAppend('one', ['a'], 10);
    await store.queueAppend('two', ['b', 'c'], 10);
    t.same((await store.queueClaim('one', 10, 60))?.items, ['a']);
    t.equal(await store.queueLength('two'), 2);
  });

  t.test('queue: bad arguments are refused', async (t) => {
    const store = await makeStore(t);
    await t.rejects(store.queueAppend('q', ['x'], 0), RangeError);
    await t.rejects(store.queueAppend('q', ['x'], 1.5), RangeError);
    await t.rejects(store.queueClaim('q', 0, 60), RangeError);
    await t.rejects(store.queueClaim('q', 1, 0), RangeError);
    await t.rejects(store.queueClaim('q', 1, Number.NaN), RangeError);
    await t.rejects(store.queueAppend('{tag}', ['x'], 10), RangeError, 'no braces: the name is a hash tag on Redis');
    await t.rejects(store.queueLength(''), RangeError);
    await t.rejects(store.queueAck('a'.repeat(65), 'id'), RangeError);
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

  t.test('checkToken: one round trip (the rate step) with a rate, none without; revocations come from the mirror', async (t) => {
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
    const insideScript = new Map<string, number>();
    for (const s of seen.filter((s) => s.source === 'lua')) insideScript.set(s.command, (insideScript.get(s.command) ?? 0) + 1);
    const delta = diffCalls(before, after);
    t.same(delta, { evalsha: 1, info: 1, ...Object.fromEntries(insideScript) }, 'commandstats: one EVALSHA, the INFO itself, and the script internals');
    t.ok(insideScript.has('time') && !insideScript.has('exists'), 'the server clock inside the script; no revocation lookup');

    seen.length = 0;
    await store.checkToken('jti');
    await sleep(50);
    t.same(seen.filter((s) => s.command !== 'info'), [], 'without a rate: no command at all');
  });

  t.test('a revocation at one instance reaches the others by pub/sub; a late instance loads it', async (t) => {
    const a = await makeRedisStore(t, 'mirror:');
    const b = await makeRedisStore(t, 'mirror:');
    t.same(await b.checkToken('jti-x'), { revoked: false });
    await a.revoke('jti-x', 60);
    t.same(await a.checkToken('jti-x'), { revoked: true }, 'at once where it was made');
    const deadline = Date.now() + 1000;
    while ((await b.checkToken('jti-x')).revoked === false && Date.now() < deadline) await sleep(1);
    t.same(await b.checkToken('jti-x'), { revoked: true }, 'at the other within the pub/sub delivery time');
    const late = await makeRedisStore(t, 'mirror:');
    t.same(await late.checkToken('jti-x'), { revoked: true }, 'an instance that starts later reads it back');
    t.same(await late.checkToken('jti-y'), { revoked: false });
  });

  t.test('a broken subscription: what was revoked meanwhile is read back, and later messages arrive again', async (t) => {
    const a = await makeRedisStore(t, 'gap:');
    const b = await makeRedisStore(t, 'gap:');
    const admin = new Redis(server.url);
    t.teardown(() => admin.disconnect());
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    // Written while every subscription is down: no instance hears this message.
    await a.revoke('jti-gap', 60);
    const refusedWithin = async (store: RedisStore, jti: string, ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if ((await store.checkToken(jti)).revoked) return true;
        await sleep(5);
      }
      return false;
    };
    t.ok(await refusedWithin(b, 'jti-gap', 3000), 'the other instance refuses it (asked Redis, or read the list again)');
    await sleep(300);
    await a.revoke('jti-after', 60);
    t.ok(await refusedWithin(b, 'jti-after', 1000), 'and hears revocations again once resubscribed');
  });

  t.test('a mirror over capacity stops answering and Redis is asked instead: nothing is forgotten', async (t) => {
    const store = new RedisStore({ url: server.url, key_prefix: 'tiny-mirror:' }, { revocations: { capacity: 2 } });
    await store.connect();
    t.teardown(() => store.close());
    for (const jti of ['r1', 'r2', 'r3']) await store.revoke(jti, 60);
    for (const jti of ['r1', 'r2', 'r3']) t.same(await store.checkToken(jti), { revoked: true }, `${jti} still refused`);
    t.same(await store.checkToken('r4'), { revoked: false });
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

  t.test('key prefixes isolate queues too', async (t) => {
    const a = await makeRedisStore(t, 'queue-a:');
    const b = await makeRedisStore(t, 'queue-b:');
    await a.queueAppend('audit', ['from-a'], 10);
    t.equal(await b.queueLength('audit'), 0);
    t.equal(await b.queueClaim('audit', 10, 60), null);
    t.same((await a.queueClaim('audit', 10, 60))?.items, ['from-a']);
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

  t.test('queue operations fail fast while Redis is down and work again after restart', async (t) => {
    const server = await startRedisServerFor(t);
    const store = new RedisStore({ url: server.url, key_prefix: 'queue-outage:' });
    await store.connect();
    t.teardown(() => store.close());
    await store.queueAppend('audit', ['before'], 10);

    await server.kill();
    const operations: [string, () => Promise<unknown>][] = [
      ['queueAppend', () => store.queueAppend('audit', ['during'], 10)],
      ['queueClaim', () => store.queueClaim('audit', 10, 60)],
      ['queueLength', () => store.queueLength('audit')],
    ];
    for (const [name, operation] of operations) {
      const started = Date.now();
      await t.rejects(operation(), `${name} rejects while Redis is down`);
      t.ok(Date.now() - started < 2000, `${name} failed within 2 s (${Date.now() - started} ms)`);
    }

    await server.restart();
    await waitForState(store, 'ready', 5000);
    t.same(await store.queueAppend('audit', ['after'], 10), { length: 1, dropped: 0 }, 'no persistence configured: only the new item');
    t.same((await store.queueClaim('audit', 10, 60))?.items, ['after']);
  });

  t.test('with appendonly, waiting and claimed queue items survive kill and restart', async (t) => {
    const server = await startRedisServerFor(t, { appendonly: true });
    const store = new RedisStore({ url: server.url, key_prefix: 'queue-durable:' });
    await store.connect();
    t.teardown(() => store.close());
    await store.queueAppend('audit', ['e1', 'e2', 'e3', 'e4'], 100);
    const inFlight = await store.queueClaim('audit', 2, 1);
    t.same(inFlight?.items, ['e1', 'e2']);

    await server.kill();
    await server.restart();
    await waitForState(store, 'ready', 5000);
    t.equal(await store.queueRelease('audit', inFlight!.id), true, 'the claim survived: its holder can still release it');
    t.same((await store.queueClaim('audit', 10, 60))?.items, ['e1', 'e2', 'e3', 'e4'], 'everything, in order');

    const abandoned = await store.queueClaim('audit', 10, 1);
    t.equal(abandoned, null, 'all four are claimed by the previous claim');
  });

  t.test('with appendonly, a claim whose holder died is recovered after restart', async (t) => {
    const server = await startRedisServerFor(t, { appendonly: true });
    const store = new RedisStore({ url: server.url, key_prefix: 'queue-recover:' });
    await store.connect();
    t.teardown(() => store.close());
    await store.queueAppend('audit', ['e1', 'e2', 'e3'], 100);
    t.same((await store.queueClaim('audit', 2, 1))?.items, ['e1', 'e2'], 'claimed by a sender that then dies (never acks)');

    await server.kill();
    await server.restart();
    await waitForState(store, 'ready', 5000);
    await sleep(1100);
    t.same((await store.queueClaim('audit', 10, 60))?.items, ['e1', 'e2', 'e3'], 'the lease ran out: the items are back at the head');
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
