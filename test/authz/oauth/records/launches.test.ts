import t from 'tap';
import { sha256Hex } from '../../../../authz/crypto/random-token.js';
import { parseLaunchContextFields } from '../../../../authz/oauth/records/launch-context.js';
import { LAUNCH_TTL_DEFAULT_SECONDS, Launches, launchTtlSeconds, launchUrl } from '../../../../authz/oauth/records/launches.js';
import { forBothStores } from '../../../support/record-stores.js';

const context = {
  clientId: 'cardio-app',
  createdBy: 'hospital-ehr',
  patient: 'pat-123',
  encounter: 'enc-9',
  fhirContext: [{ reference: 'Encounter/enc-9' }, { reference: 'DiagnosticReport/dr-1', role: 'https://example.org/role/report' }],
  needPatientBanner: false,
  smartStyleUrl: 'https://ehr.example.org/smart-style.json',
};

forBothStores(t, (t, makeStore) => {
  t.test('a launch is redeemed once, by the app it was made for', async (t) => {
    const rs = await makeStore(t);
    const launches = new Launches(rs.store, 300, rs.now);
    const { launch, expiresIn } = await launches.create(context);
    t.match(launch, /^[A-Za-z0-9_-]{43}$/, '256 random bits');
    t.equal(expiresIn, 300);
    t.same(await launches.redeem(launch, 'cardio-app'), { kind: 'valid', launch: { ...context, createdAt: Math.floor(rs.now() / 1000) } });
    t.same(await launches.redeem(launch, 'cardio-app'), { kind: 'unknown' }, 'reused');
  });

  t.test("another app's launch value is refused and burnt", async (t) => {
    const rs = await makeStore(t);
    const launches = new Launches(rs.store, 300, rs.now);
    const { launch } = await launches.create(context);
    t.same(await launches.redeem(launch, 'other-app'), { kind: 'other-client' });
    t.same(await launches.redeem(launch, 'cardio-app'), { kind: 'unknown' }, 'a leaked launch value is no longer good for anyone');
  });

  t.test('unknown and malformed values', async (t) => {
    const rs = await makeStore(t);
    const launches = new Launches(rs.store, 300, rs.now);
    for (const value of ['', '123', 'x'.repeat(43), 'Patient/123']) {
      t.same(await launches.redeem(value, 'cardio-app'), { kind: 'unknown' }, JSON.stringify(value));
    }
  });

  t.test('racing redemptions: exactly one wins', async (t) => {
    const rs = await makeStore(t);
    const launches = new Launches(rs.store, 300, rs.now);
    const { launch } = await launches.create(context);
    const results = await Promise.all(Array.from({ length: 20 }, () => launches.redeem(launch, 'cardio-app')));
    t.equal(results.filter((r) => r.kind === 'valid').length, 1);
  });

  t.test('stored under its hash for tokens.launch_ttl', async (t) => {
    const rs = await makeStore(t);
    const launches = new Launches(rs.store, 120, rs.now);
    const { launch } = await launches.create(context);
    const ttl = await rs.ttl('once', `launch:${sha256Hex(launch)}`);
    t.ok(ttl !== null && ttl > 118 && ttl <= 120, `TTL ${ttl}`);
    if (rs.advance) {
      rs.advance(121);
      t.same(await launches.redeem(launch, 'cardio-app'), { kind: 'unknown' }, 'expired');
    }
  });
});

t.test('launch_ttl: the config value, else 5 minutes', async (t) => {
  t.equal(LAUNCH_TTL_DEFAULT_SECONDS, 300);
  t.equal(launchTtlSeconds({}), 300);
  t.equal(launchTtlSeconds({ launch_ttl: 90 }), 90);
});

t.test('launch URL: the app’s launch_uri with iss and launch', async (t) => {
  t.equal(launchUrl('https://app.example/launch', 'https://gw.example/fhir', 'L1'), 'https://app.example/launch?iss=https%3A%2F%2Fgw.example%2Ffhir&launch=L1');
  t.equal(
    launchUrl('https://app.example/launch?tenant=a&launch=stale', 'https://gw.example/fhir', 'L2'),
    'https://app.example/launch?tenant=a&launch=L2&iss=https%3A%2F%2Fgw.example%2Ffhir',
    'registered parameters stay; a stale launch is replaced',
  );
});

t.test('launch context fields: form or JSON, validated', async (t) => {
  t.same(parseLaunchContextFields({}), { ok: true, context: { needPatientBanner: true } }, 'need_patient_banner defaults to true');
  t.same(
    parseLaunchContextFields({
      client_id: 'ignored-here',
      patient: 'pat-123',
      encounter: 'enc-9',
      fhir_context: '["Encounter/enc-9", {"reference": "DiagnosticReport/dr-1", "role": "https://example.org/role/report"}]',
      need_patient_banner: 'false',
      smart_style_url: 'https://ehr.example.org/smart-style.json',
    }),
    {
      ok: true,
      context: {
        patient: 'pat-123',
        encounter: 'enc-9',
        fhirContext: [{ reference: 'Encounter/enc-9' }, { reference: 'DiagnosticReport/dr-1', role: 'https://example.org/role/report' }],
        needPatientBanner: false,
        smartStyleUrl: 'https://ehr.example.org/smart-style.json',
      },
    },
    'a form: strings, fhir_context as JSON',
  );
  t.same(
    parseLaunchContextFields({ patient: 'p1', fhir_context: [{ reference: 'Encounter/e1' }], need_patient_banner: true }),
    { ok: true, context: { patient: 'p1', fhirContext: [{ reference: 'Encounter/e1' }], needPatientBanner: true } },
    'JSON: typed values',
  );
  t.same(parseLaunchContextFields({ fhir_context: '[]' }), { ok: true, context: { needPatientBanner: true } }, 'an empty context list is no list');

  const refusals: [Record<string, unknown>, RegExp][] = [
    [{ patient: 'Patient/123' }, /^patient must be a bare FHIR id such as 123 \(send the bare id "123", not Patient\/\.\.\.\)$/],
    [{ encounter: 'Encounter/9' }, /^encounter must be a bare FHIR id .*"9"/],
    [{ patient: '../x' }, /^patient must be a bare FHIR id such as 123$/],
    [{ patient: 123 }, /^patient must be a bare FHIR id/],
    [{ patient: 'p'.repeat(65) }, /^patient must be a bare FHIR id/],
    [{ fhir_context: 'Encounter/1' }, /^fhir_context must be a JSON array/],
    [{ fhir_context: '{"reference": "Encounter/1"}' }, /^fhir_context must be a JSON array/],
    [{ fhir_context: '["encounter/1"]' }, /^fhir_context must be a JSON array/],
    [{ fhir_context: '[{"reference": "Encounter/1", "extra": true}]' }, /^fhir_context must be a JSON array/],
    [{ fhir_context: '[{"reference": "Encounter/1", "role": "not a uri"}]' }, /^fhir_context must be a JSON array/],
    [{ fhir_context: '[{"reference": "http://other/fhir/Encounter/1"}]' }, /^fhir_context must be a JSON array/],
    [{ fhir_context: JSON.stringify(Array.from({ length: 21 }, (_, i) => `Encounter/${i}`)) }, /^fhir_context may hold at most 20 entries$/],
    [{ need_patient_banner: 'yes' }, /^need_patient_banner must be true or false$/],
    [{ smart_style_url: '/style.json' }, /^smart_style_url must be an absolute http\(s\) URL$/],
    [{ smart_style_url: 'javascript:alert(1)' }, /^smart_style_url must be an absolute http\(s\) URL$/],
  ];
  for (const [fields, description] of refusals) {
    const parsed = parseLaunchContextFields(fields);
    t.equal(parsed.ok, false, JSON.stringify(fields));
    if (!parsed.ok) t.match(parsed.description, description);
  }
});
