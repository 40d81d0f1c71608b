import t from 'tap';
import { startStack } from '../../support/stack.js';

/** rate_limits.per_ip_login: posts to the login form beyond the limit get a 429 page, not a sign-in attempt. */
t.test('login form posts are limited per client IP', async (t) => {
  const stack = await startStack(t, {
    store: 'memory',
    edit: (raw) => {
      // 2/min with burst 1: two attempts may come at once, then one every 30 s.
      raw.rate_limits = { per_ip_login: { rate: '2/min', burst: 1 } };
    },
  });
  const post = () =>
    fetch(`${stack.gateway.url}/oauth/authorize/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=alice&password=wrong&csrf=x&interaction=y',
      redirect: 'manual',
    });
  const first = await post();
  const second = await post();
  t.not(first.status, 429, 'first attempt is handled');
  t.not(second.status, 429, 'second attempt is handled');
  t.equal(first.headers.get('ratelimit-limit'), '3', 'RateLimit-Limit = limit + burst');
  const third = await post();
  t.equal(third.status, 429, 'third attempt within the minute is refused');
  t.ok(Number(third.headers.get('retry-after')) >= 1, 'Retry-After says when to come back');
  t.match(third.headers.get('content-type') ?? '', /text\/html/, 'a page for the browser');
  t.equal(third.headers.get('x-frame-options'), 'DENY');
  const page = await third.text();
  t.match(page, /Too many sign-in attempts/);
  t.notMatch(page, /<script/i);

  const token = await fetch(`${stack.gateway.url}/.well-known/jwks.json`);
  t.equal(token.status, 200, 'other endpoints are not affected by the login limit');
});
