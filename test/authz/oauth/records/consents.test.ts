import t from 'tap';
import { CONSENT_TTL_SECONDS, Consents, consentCovers } from '../../../../authz/oauth/records/consents.js';
import { LeaseBusyError, withLease } from '../../../../authz/oauth/records/store-lease.js';
import { sha256Hex } from '../../../../authz/crypto/random-token.js';
import { forBothStores } from '../../../support/record-stores.js';

const KIM = 'fed-kim-key';
const LEE = 'fed-lee-key';

forBothStores(t, (t, makeStore) => {
  t.test('remember, find, list and withdraw a consent', async (t) => {
    const rs = await makeStore(t);
    const consents = new Consents(rs.store, rs.now);
    const at = Math.floor(rs.now() / 1000);
    t.equal(await consents.remembered(KIM, 'cardio-app'), undefined);
    t.same(await consents.list(KIM), []);

    await consents.remember(KIM, 'cardio-app', 'openid fhirUser user/*.rs');
    await consents.remember(KIM, 'charting', 'user/Observation.rs');
    t.same(await consents.remembered(KIM, 'cardio-app'), { scope: 'openid fhirUser user/*.rs', grantedAt: at });
    t.equal(await consents.remembered(LEE, 'cardio-app'), undefined, 'per person');
    t.same(
      await consents.list(KIM),
      [
        { clientId: 'cardio-app', remembered: { scope: 'openid fhirUser user/*.rs', grantedAt: at }, refreshFamilies: [] },
        { clientId: 'charting', remembered: { scope: 'user/Observation.rs', grantedAt: at }, refreshFamilies: [] },
      ],
    );

    await consents.remember(KIM, 'cardio-app', 'user/Patient.rs');
    t.same(await consents.remembered(KIM, 'cardio-app'), { scope: 'user/Patient.rs', grantedAt: at }, 'a new consent replaces the scopes');
    t.equal((await consents.list(KIM)).length, 2, 'and is listed once');

    const revoked: string[] = [];
    const withdrawn = await consents.withdraw(KIM, 'cardio-app', async (id) => void revoked.push(id));
    t.equal(withdrawn?.clientId, 'cardio-app');
    t.same(revoked, [], 'no refresh tokens to revoke');
    t.equal(await consents.remembered(KIM, 'cardio-app'), undefined);
    t.same((await consents.list(KIM)).map((c) => c.clientId), ['charting']);
    t.equal(await consents.withdraw(KIM, 'cardio-app', async () => undefined), undefined, 'withdrawing twice finds nothing');
  });

  t.test('refresh-token families are listed with the app and revoked on withdrawal', async (t) => {
    const rs = await makeStore(t);
    const consents = new Consents(rs.store, rs.now);
    const now = Math.floor(rs.now() / 1000);
    await consents.addRefreshFamily(KIM, 'cardio-app', { id: 'fam-1', scope: 'user/*.rs offline_access', createdAt: now, exp: now + 3600 });
    await consents.addRefreshFamily(KIM, 'cardio-app', { id: 'fam-2', scope: 'user/*.rs offline_access', createdAt: now, exp: now + 7200 });
    await consents.addRefreshFamily(KIM, 'cardio-app', { id: 'fam-1', scope: 'user/*.rs offline_access', createdAt: now, exp: now + 3600 });
    const [listed] = await consents.list(KIM);
    t.same(listed, {
      clientId: 'cardio-app',
      refreshFamilies: [
        { id: 'fam-2', scope: 'user/*.rs offline_access', createdAt: now, exp: now + 7200 },
        { id: 'fam-1', scope: 'user/*.rs offline_access', createdAt: now, exp: now + 3600 },
      ],
    }, 'an app with tokens but no remembered consent is listed (each family once)');
    t.equal(await consents.remembered(KIM, 'cardio-app'), undefined, 'tokens are not a remembered consent');

    // A failing revocation keeps everything, so nothing alive is forgotten.
    await t.rejects(
      consents.withdraw(KIM, 'cardio-app', async (id) => {
        if (id === 'fam-1') throw new Error('store down');
      }),
      /store down/,
    );
    t.equal((await consents.list(KIM))[0]?.refreshFamilies.length, 2, 'still listed after the failed withdrawal');

    const revoked: string[] = [];
    await consents.withdraw(KIM, 'cardio-app', async (id) => void revoked.push(id));
    t.same(revoked.sort(), ['fam-1', 'fam-2']);
    t.same(await consents.list(KIM), []);
  });

  t.test('lifetimes: a year for a consent, the refresh token for a family, the index at least as long', async (t) => {
    const rs = await makeStore(t);
    const consents = new Consents(rs.store, rs.now);
    const now = Math.floor(rs.now() / 1000);
    await consents.addRefreshFamily(KIM, 'app-a', { id: 'f', scope: 's', createdAt: now, exp: now + 1000 });
    const recordKey = `consent:${sha256Hex(JSON.stringify([KIM, 'app-a']))}`;
    const indexKey = `consent-index:${sha256Hex(KIM)}`;
    const familyOnly = await rs.ttl('value', recordKey);
    t.ok(familyOnly !== null && familyOnly > 997 && familyOnly <= 1000, `a family-only record lives as long as its refresh token (${familyOnly})`);

    await consents.remember(KIM, 'app-a', 's');
    const remembered = await rs.ttl('value', recordKey);
    t.ok(remembered !== null && remembered > CONSENT_TTL_SECONDS - 3 && remembered <= CONSENT_TTL_SECONDS, `then as long as the consent (${remembered})`);
    const index = await rs.ttl('value', indexKey);
    t.ok(index !== null && index >= remembered! - 1, `the index outlives the record (${index})`);

    // A family outliving a year (refresh_token_ttl may be set that long) keeps the index alive past it.
    await consents.addRefreshFamily(KIM, 'app-b', { id: 'g', scope: 's', createdAt: now, exp: now + 2 * CONSENT_TTL_SECONDS });
    await consents.remember(KIM, 'app-c', 's');
    const longIndex = await rs.ttl('value', indexKey);
    t.ok(longIndex !== null && longIndex > 2 * CONSENT_TTL_SECONDS - 5, `never shortened by a later write (${longIndex})`);

    if (rs.advance) {
      rs.advance(CONSENT_TTL_SECONDS + 1);
      t.equal(await consents.remembered(KIM, 'app-a'), undefined, 'a consent older than a year is asked again');
      t.same((await consents.list(KIM)).map((c) => c.clientId), ['app-b'], 'only the long-lived family is left');
    }
  });

  t.test('concurrent writes for one person lose nothing', async (t) => {
    const rs = await makeStore(t);
    const consents = new Consents(rs.store, rs.now);
    const now = Math.floor(rs.now() / 1000);
    const apps = Array.from({ length: 12 }, (_, i) => `app-${String(i).padStart(2, '0')}`);
    await Promise.all([
      ...apps.map((app) => consents.remember(KIM, app, 'user/*.rs')),
      ...apps.map((app, i) => consents.addRefreshFamily(KIM, app, { id: `fam-${i}`, scope: 's', createdAt: now, exp: now + 60 })),
    ]);
    const listed = await consents.list(KIM);
    t.same(listed.map((c) => c.clientId), apps, 'every app is in the index');
    t.ok(listed.every((c) => c.remembered !== undefined && c.refreshFamilies.length === 1), 'and every record has both writes');
  });

  t.test('the store holds neither person keys nor client ids in clear', async (t) => {
    const rs = await makeStore(t);
    const consents = new Consents(rs.store, rs.now);
    await consents.remember(KIM, 'cardio-app', 's');
    t.equal(await rs.store.get(`consent-index:${KIM}`), null);
    t.ok(await rs.store.get(`consent-index:${sha256Hex(KIM)}`), 'keys are hashes');
  });

  t.test('a lease is exclusive, released after use, and gives up in time', async (t) => {
    const rs = await makeStore(t);
    let inside = 0;
    let overlap = false;
    await Promise.all(
      Array.from({ length: 8 }, () =>
        withLease(rs.store, 'shared', async () => {
          inside += 1;
          if (inside > 1) overlap = true;
          await new Promise((resolve) => setTimeout(resolve, 5));
          inside -= 1;
        }),
      ),
    );
    t.equal(overlap, false, 'never two holders at once');
    t.equal(await withLease(rs.store, 'shared', async () => 'free again'), 'free again');
    await t.rejects(withLease(rs.store, 'shared', async () => {
      throw new Error('inside');
    }), /inside/);
    t.equal(await withLease(rs.store, 'shared', async () => 'released after a throw'), 'released after a throw');

    const held = withLease(rs.store, 'busy', () => new Promise((resolve) => setTimeout(resolve, 300)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await t.rejects(withLease(rs.store, 'busy', async () => 'never', { waitMs: 100 }), LeaseBusyError, 'fails closed when it cannot be had');
    await held;
  });
});

t.test('consentCovers: the same or fewer scopes, token by token', async (t) => {
  const remembered = { scope: 'openid fhirUser launch/patient patient/*.rs', grantedAt: 0 };
  t.equal(consentCovers(remembered, 'openid fhirUser launch/patient patient/*.rs'), true, 'the same');
  t.equal(consentCovers(remembered, 'patient/*.rs openid'), true, 'fewer, any order');
  t.equal(consentCovers(remembered, 'openid offline_access'), false, 'a new scope');
  t.equal(consentCovers(remembered, 'patient/Observation.rs'), false, 'narrower in meaning but not granted word for word');
  t.equal(consentCovers(remembered, ''), true, 'nothing asked');
});
