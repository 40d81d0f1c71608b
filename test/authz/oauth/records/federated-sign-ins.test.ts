import t from 'tap';
import { randomToken, sha256Hex } from '../../../../authz/crypto/random-token.js';
import { FEDERATED_SIGN_IN_TTL_SECONDS, FederatedSignIns } from '../../../../authz/oauth/records/federated-sign-ins.js';
import { forBothStores } from '../../../support/record-stores.js';

const signIn = { providerId: 'hospital-sso', nonce: 'n-0S6_WzA2Mj', codeVerifier: 'v'.repeat(43), interactionId: 'i'.repeat(32) };

forBothStores(t, (t, makeStore) => {
  t.test('a sign-in is found once, by the browser that started it', async (t) => {
    const rs = await makeStore(t);
    const signIns = new FederatedSignIns(rs.store, rs.now);
    const browser = randomToken(32);
    const state = await signIns.start(signIn, browser);
    t.match(state, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');

    const found = await signIns.take(state, browser);
    t.same(found, { kind: 'valid', signIn: { ...signIn, createdAt: Math.floor(rs.now() / 1000) } });
    t.same(await signIns.take(state, browser), { kind: 'unknown' }, 'a replayed callback finds nothing');
  });

  t.test('another browser, or none, uses the sign-in up without getting it', async (t) => {
    const rs = await makeStore(t);
    const signIns = new FederatedSignIns(rs.store, rs.now);
    const victim = randomToken(32);
    const attacker = randomToken(32);

    const state = await signIns.start(signIn, attacker);
    t.same(await signIns.take(state, victim), { kind: 'other-browser' }, 'login CSRF: the victim browser lacks the cookie');
    t.same(await signIns.take(state, attacker), { kind: 'unknown' }, 'and the state cannot be retried with the right cookie');

    const second = await signIns.start(signIn, victim);
    t.same(await signIns.take(second, undefined), { kind: 'other-browser' }, 'no cookie at all');
    const third = await signIns.start(signIn, victim);
    t.same(await signIns.take(third, 'not-a-binding'), { kind: 'other-browser' }, 'a malformed cookie');
  });

  t.test('two tabs of one browser each complete their own sign-in', async (t) => {
    const rs = await makeStore(t);
    const signIns = new FederatedSignIns(rs.store, rs.now);
    const browser = randomToken(32);
    const first = await signIns.start({ ...signIn, interactionId: 'a'.repeat(32) }, browser);
    const second = await signIns.start({ ...signIn, interactionId: 'b'.repeat(32) }, browser);
    t.not(first, second);
    t.equal(((await signIns.take(second, browser)) as { signIn: { interactionId: string } }).signIn.interactionId, 'b'.repeat(32));
    t.equal(((await signIns.take(first, browser)) as { signIn: { interactionId: string } }).signIn.interactionId, 'a'.repeat(32));
  });

  t.test('20 racing callbacks with the same state: exactly one proceeds', async (t) => {
    const rs = await makeStore(t);
    const signIns = new FederatedSignIns(rs.store, rs.now);
    const browser = randomToken(32);
    const state = await signIns.start(signIn, browser);
    const results = await Promise.all(Array.from({ length: 20 }, () => signIns.take(state, browser)));
    t.equal(results.filter((r) => r.kind === 'valid').length, 1);
  });

  t.test('states that were never issued are not even looked up', async (t) => {
    const rs = await makeStore(t);
    const signIns = new FederatedSignIns(rs.store, rs.now);
    for (const state of ['', 'short', 'x'.repeat(44), `${'a'.repeat(42)}!`, randomToken(32)]) {
      t.same(await signIns.take(state, randomToken(32)), { kind: 'unknown' }, JSON.stringify(state));
    }
    await t.rejects(signIns.start(signIn, 'weak'), TypeError, 'a binding must be a full random value');
  });

  t.test('stored by hash, with no state or cookie value in it, for 10 minutes', async (t) => {
    const rs = await makeStore(t);
    const signIns = new FederatedSignIns(rs.store, rs.now);
    const browser = randomToken(32);
    const state = await signIns.start(signIn, browser);
    const key = `federated-sign-in:${sha256Hex(state)}`;
    const ttl = await rs.ttl('once', key);
    t.ok(ttl !== null && ttl > FEDERATED_SIGN_IN_TTL_SECONDS - 2 && ttl <= FEDERATED_SIGN_IN_TTL_SECONDS, `TTL ${ttl}`);
    const raw = await rs.store.takeOnce(key);
    t.ok(raw, 'the record sits under the SHA-256 of the state');
    t.notMatch(raw!, state);
    t.notMatch(raw!, browser);
    t.match(raw!, sha256Hex(browser), 'only the hash of the binding');
  });

  if (t.name === 'memory store') {
    t.test('expired sign-ins are gone', async (t) => {
      const rs = await makeStore(t);
      const signIns = new FederatedSignIns(rs.store, rs.now);
      const browser = randomToken(32);
      const state = await signIns.start(signIn, browser);
      rs.advance!(FEDERATED_SIGN_IN_TTL_SECONDS + 1);
      t.same(await signIns.take(state, browser), { kind: 'unknown' });
    });
  }
});
