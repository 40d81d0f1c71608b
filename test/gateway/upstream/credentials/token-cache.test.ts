import t from 'tap';
import { refreshMarginSeconds, TokenCache, usableLifetimeSeconds } from '../../../../gateway/upstream/credentials/token-cache.js';
import { UpstreamCredentialsError } from '../../../../gateway/upstream/credentials/upstream-credentials.js';
import type { FetchedToken } from '../../../../gateway/upstream/credentials/token-response.js';

/** A token endpoint stand-in whose answers the test releases one by one, on a clock the test moves. */
function harness(expiresIn = 300) {
  let clock = 0;
  let issued = 0;
  const pending: { resolve: (token: FetchedToken) => void; reject: (err: Error) => void }[] = [];
  const cache = new TokenCache({
    now: () => clock,
    failureHoldMs: 1_000,
    fetch: () =>
      new Promise<FetchedToken>((resolve, reject) => {
        pending.push({ resolve, reject });
      }),
  });
  const settle = async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return {
    cache,
    advance: (ms: number) => {
      clock += ms;
    },
    requests: () => issued + pending.length,
    async answer() {
      await settle();
      const next = pending.shift();
      if (!next) throw new Error('no token request is pending');
      issued++;
      next.resolve({ accessToken: `token-${issued}`, expiresIn });
      await settle();
    },
    async fail(error = new UpstreamCredentialsError('refused', 'token endpoint refused (invalid_client)')) {
      await settle();
      const next = pending.shift();
      if (!next) throw new Error('no token request is pending');
      issued++;
      next.reject(error);
      await settle();
    },
    settle,
  };
}

t.test('the margin is 10 % of the usable lifetime, at most 60 s', async (t) => {
  t.equal(usableLifetimeSeconds(300), 299, 'one second for the server rounding its clock down');
  t.equal(usableLifetimeSeconds(1), 0);
  t.equal(refreshMarginSeconds(299), 29.9);
  t.equal(refreshMarginSeconds(3599), 60);
  t.equal(refreshMarginSeconds(9), 0.9, 'a short-lived token is still cached for 90 % of its life');
});

t.test('concurrent callers share one fetch and get the same headers', async (t) => {
  const h = harness();
  const callers = Array.from({ length: 50 }, () => h.cache.headers());
  await h.answer();
  const headers = await Promise.all(callers);
  t.equal(h.requests(), 1, 'one token request for 50 callers');
  t.ok(headers.every((value) => value === headers[0]), 'the very same headers object');
  t.same(headers[0], { authorization: 'Bearer token-1' });
  t.equal(await h.cache.headers(), headers[0], 'served from the cache afterwards');
  t.equal(h.requests(), 1);
});

t.test('renewal starts inside the margin, while the current token keeps serving', async (t) => {
  const h = harness(300); // usable 299 s, margin 29.9 s: renewal from 269.1 s
  const first = h.cache.headers();
  await h.answer();
  const token1 = await first;

  h.advance(269_000);
  t.equal(await h.cache.headers(), token1, 'before the margin: cached');
  t.equal(h.requests(), 1, 'no renewal yet');

  h.advance(200); // 269.2 s: inside the margin
  t.equal(await h.cache.headers(), token1, 'inside the margin the current token is still handed out at once');
  t.equal(h.requests(), 2, 'and one renewal has started');
  t.equal(await h.cache.headers(), token1, 'a second caller does not start another');
  t.equal(h.requests(), 2);
  await h.answer();
  t.same(await h.cache.headers(), { authorization: 'Bearer token-2' }, 'the renewed token from then on');
  t.equal(h.requests(), 2);
});

t.test('without a valid token, callers wait for the fetch', async (t) => {
  const h = harness(10); // usable 9 s
  const first = h.cache.headers();
  await h.answer();
  await first;
  h.advance(9_000);
  let settled = false;
  const waiting = h.cache.headers().then((value) => {
    settled = true;
    return value;
  });
  await h.settle();
  t.notOk(settled, 'an expired token is never handed out');
  await h.answer();
  t.same(await waiting, { authorization: 'Bearer token-2' });
});

t.test('drop() removes the refused token once, however many requests report it', async (t) => {
  const h = harness();
  const first = h.cache.headers();
  await h.answer();
  const refused = await first;
  for (let i = 0; i < 10; i++) h.cache.drop(refused);
  const next = Promise.all(Array.from({ length: 10 }, () => h.cache.headers()));
  await h.answer();
  const renewed = await next;
  t.equal(h.requests(), 2, 'one new token for ten refusals');
  t.same(renewed[0], { authorization: 'Bearer token-2' });

  h.cache.drop(refused);
  t.equal(await h.cache.headers(), renewed[0], 'a late refusal of the old token does not drop the new one');
  t.equal(h.requests(), 2);

  h.cache.drop();
  const again = h.cache.headers();
  await h.answer();
  t.same(await again, { authorization: 'Bearer token-3' }, 'drop() without headers drops whatever is cached');
});

t.test('a failed fetch fails every waiting caller, is held for a second, and shows in status()', async (t) => {
  const h = harness();
  t.same(h.cache.status(), { ok: true }, 'nothing has failed yet');
  const callers = Array.from({ length: 5 }, () => h.cache.headers());
  await h.fail();
  for (const caller of callers) await t.rejects(caller, { name: 'UpstreamCredentialsError', failure: 'refused' });
  t.same(h.cache.status(), { ok: false, reason: 'token endpoint refused (invalid_client)' });

  await t.rejects(h.cache.headers(), { name: 'UpstreamCredentialsError', failure: 'refused' }, 'within the hold: the same failure');
  t.equal(h.requests(), 1, 'without asking the token endpoint again');

  h.advance(1_000);
  const retry = h.cache.headers();
  await h.answer();
  t.same(await retry, { authorization: 'Bearer token-2' }, 'after the hold it asks again');
  t.same(h.cache.status(), { ok: true });
});

t.test('a failed renewal leaves the current token serving until it expires', async (t) => {
  const h = harness(100); // usable 99 s, margin 9.9 s
  const first = h.cache.headers();
  await h.answer();
  const token1 = await first;
  h.advance(95_000);
  t.equal(await h.cache.headers(), token1);
  await h.fail();
  t.same(h.cache.status(), { ok: true }, 'still holding a valid token');
  t.equal(await h.cache.headers(), token1, 'served while valid');
  t.equal(h.requests(), 2, 'the hold keeps the renewal from being retried at once');
  h.advance(1_000);
  t.equal(await h.cache.headers(), token1);
  t.equal(h.requests(), 3, 'after the hold, the next request tries again');
  await h.fail();
  h.advance(4_000);
  const waiting = h.cache.headers();
  await h.fail();
  await t.rejects(waiting, { name: 'UpstreamCredentialsError', failure: 'refused' }, 'once expired, callers wait and get the failure');
  t.same(h.cache.status(), { ok: false, reason: 'token endpoint refused (invalid_client)' });
});

t.test('an unexpected error becomes an UpstreamCredentialsError without its message', async (t) => {
  const cache = new TokenCache({ fetch: () => Promise.reject(new TypeError('secret-ish detail')) });
  const error = (await cache.headers().catch((err: unknown) => err)) as UpstreamCredentialsError;
  t.type(error, UpstreamCredentialsError);
  t.equal(error.failure, 'invalid_response');
  t.notMatch(error.message, /secret-ish/);
});
