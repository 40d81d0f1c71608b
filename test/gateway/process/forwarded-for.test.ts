import t from 'tap';
import { resolveClientIp, trustedProxySet } from '../../../gateway/http/client-ip.js';
import { clientToken, tokenRequest } from '../../support/ops-helpers.js';
import { BACKEND_SECRET, startStack } from '../../support/stack.js';

/** Issue #4.8: X-Forwarded-For is believed only from configured trusted proxies. */

const tokenStatuses = async (base: string, forwardedFor: string[]) => {
  const out: number[] = [];
  for (const xff of forwardedFor) {
    const res = await tokenRequest(base, 'backend', BACKEND_SECRET, 'system/Patient.rs', { 'x-forwarded-for': xff });
    out.push(res.status);
    await res.arrayBuffer();
  }
  return out;
};

t.test('no trusted proxy: a spoofed X-Forwarded-For is ignored; the per-IP limit applies to the socket address', async (t) => {
  const stack = await startStack(t, { store: 'memory', edit: (raw) => (raw.rate_limits = { per_ip_token: { rate: '1/hour', burst: 1 } }) });
  const base = stack.gateway.url;
  t.same(await tokenStatuses(base, ['203.0.113.1', '203.0.113.2', '203.0.113.3', '198.51.100.7']), [200, 200, 429, 429], 'a new spoofed address each time does not help');

  await stack.upstream.seed([{ resourceType: 'Patient', id: 'xff1' }] as never);
  const other = await startStack(t, { store: 'memory', upstream: stack.upstream });
  const token = await clientToken(other.gateway.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  other.takeReceived();
  const res = await fetch(`${other.gateway.url}/Patient/xff1`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '203.0.113.9' } });
  t.equal(res.status, 200);
  await res.arrayBuffer();
  t.equal(other.takeReceived()[0]?.headers['x-forwarded-for'], '127.0.0.1', 'the upstream is told the real peer, not the spoofed one');
});

t.test('trusted proxy: X-Forwarded-For is honoured, per client address', async (t) => {
  const stack = await startStack(t, {
    store: 'memory',
    edit: (raw) => {
      raw.rate_limits = { per_ip_token: { rate: '1/hour', burst: 1 } };
      raw.server.trusted_proxies = ['127.0.0.1', '10.0.0.0/8'];
    },
  });
  const base = stack.gateway.url;
  t.same(await tokenStatuses(base, ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4']), [200, 200, 200, 200], 'each client behind the proxy has its own bucket');
  t.same(await tokenStatuses(base, ['198.51.100.5', '198.51.100.5', '198.51.100.5']), [200, 200, 429], 'one client behind the proxy is limited');
  // A client that prepends a fake hop: the right-most untrusted hop (the one our proxy saw) counts.
  t.same(
    await tokenStatuses(base, ['1.1.1.1, 198.51.100.5', '2.2.2.2, 198.51.100.5, 10.1.2.3']),
    [429, 429],
    'forged left-most hops do not escape the limit (10.x is a trusted inner proxy)',
  );

  await stack.upstream.seed([{ resourceType: 'Patient', id: 'xff2' }] as never);
  const token = await clientToken(base, 'backend', BACKEND_SECRET, 'system/Patient.rs').catch(() => undefined);
  // The token endpoint from 127.0.0.1 without XFF is its own bucket, so this succeeds.
  t.ok(token, 'a token for the proxy-forwarded read');
  stack.takeReceived();
  const res = await fetch(`${base}/Patient/xff2`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '203.0.113.77' } });
  t.equal(res.status, 200);
  await res.arrayBuffer();
  t.equal(stack.takeReceived()[0]?.headers['x-forwarded-for'], '203.0.113.77', 'the upstream is told the client address the trusted proxy saw');
});

t.test('resolveClientIp', async (t) => {
  const trusted = trustedProxySet(['127.0.0.1', '10.0.0.0/8', '::1']);
  t.equal(resolveClientIp('127.0.0.1', '203.0.113.1', undefined), '127.0.0.1', 'nothing trusted: the peer');
  t.equal(resolveClientIp('192.0.2.1', '203.0.113.1', trusted), '192.0.2.1', 'untrusted peer: XFF ignored');
  t.equal(resolveClientIp('::ffff:127.0.0.1', '203.0.113.1', trusted), '203.0.113.1', 'IPv4-mapped peer is recognised');
  t.equal(resolveClientIp('::1', '2001:db8::5', trusted), '2001:db8::5', 'IPv6');
  t.equal(resolveClientIp('127.0.0.1', '203.0.113.1, 10.0.0.2', trusted), '203.0.113.1', 'skips trusted inner hops');
  t.equal(resolveClientIp('127.0.0.1', 'garbage, 203.0.113.1', trusted), '203.0.113.1', 'ignores non-addresses');
  t.equal(resolveClientIp('127.0.0.1', 'garbage', trusted), '127.0.0.1', 'no usable hop: the peer');
  t.equal(resolveClientIp('127.0.0.1', '10.0.0.3, 10.0.0.2', trusted), '10.0.0.3', 'all hops trusted: the left-most');
});
