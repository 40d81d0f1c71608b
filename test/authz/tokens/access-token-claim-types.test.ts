import t from 'tap';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { verifyAccessToken, type AccessTokenSettings } from '../../../authz/tokens/access-token.js';
import { loadKeyRing } from '../../../authz/tokens/signing-keys.js';
import { accessTokenClaimProblem } from '../../../authz/tokens/access-token-claims.js';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { MemoryStore } from '../../../gateway/store/memory-store.js';
import { freePort } from '../../support/free-port.js';
import { startGatewayProcess } from '../../support/gateway-process.js';
import { BACKEND_SECRET, baseRawConfig } from '../../support/stack.js';

/**
 * Issue 12, item 12: a token signed with the gateway's own key whose registered claims have the
 * wrong JSON type (RFC 7519 §4.1) is refused like any other invalid token (401 invalid_token).
 */

const KID = 'claim-types-key';

async function signingKeyFile(): Promise<{ file: string; privateKey: CryptoKey }> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: KID, alg: 'ES256' };
  const file = join(mkdtempSync(join(tmpdir(), 'claim-types-')), 'signing-key.json');
  writeFileSync(file, JSON.stringify(jwk));
  return { file, privateKey: (await importJWK(jwk, 'ES256')) as CryptoKey };
}

/** The claims the gateway itself issues, each test replacing one. */
function goodClaims(issuer: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: issuer, aud: issuer, sub: 'backend', client_id: 'backend', scope: 'system/Patient.rs', jti: randomUUID(), iat: now, exp: now + 300 };
}

/** Every wrong type per claim; `sub` as an object and as a number are the ones the issue names. */
const WRONG: Record<string, unknown[]> = {
  sub: [{ id: 'backend' }, 42, ['backend'], true, null, ''],
  iss: [42, { url: 'x' }],
  aud: [42, { url: 'x' }],
  exp: ['9999999999', null],
  iat: ['1700000000', {}],
  nbf: ['0', {}],
  jti: [42, { id: 'x' }, ''],
  client_id: [42, ['backend'], ''],
  scope: [42, ['system/Patient.rs'], null],
  patient: [42, { id: '1' }, ''],
  fhirUser: [42, { reference: 'Practitioner/1' }],
};

t.test('accessTokenClaimProblem names the claim and the expected type', async (t) => {
  const base = goodClaims('https://fhir.example.org');
  t.equal(accessTokenClaimProblem(base), undefined, 'the claims the gateway issues pass');
  t.equal(accessTokenClaimProblem({ ...base, aud: ['https://fhir.example.org', 'https://other.example'] }), undefined, 'aud as an array of strings (RFC 7519 §4.1.3)');
  t.equal(accessTokenClaimProblem({ ...base, patient: '123', fhirUser: 'Patient/123', nbf: base.iat }), undefined, 'optional claims of the right type');
  t.equal(accessTokenClaimProblem({ ...base, scope: '' }), undefined, 'an empty scope is well-formed (it grants nothing)');
  t.match(accessTokenClaimProblem({ ...base, sub: { id: 'x' } }), /sub claim must be a non-empty string/);
  t.match(accessTokenClaimProblem({ ...base, aud: ['https://fhir.example.org', 7] }), /aud claim must be a string or an array of strings/);
  t.match(accessTokenClaimProblem({ ...base, exp: Number.POSITIVE_INFINITY }), /exp claim must be a number/);
  const { client_id: _omit, ...withoutClientId } = base;
  t.match(accessTokenClaimProblem(withoutClientId), /lacks the client_id claim/);
});

t.test('verifyAccessToken refuses every wrongly typed claim of a correctly signed token', async (t) => {
  const { file, privateKey } = await signingKeyFile();
  const keys = await loadKeyRing({ signingKeyFile: file, store: new MemoryStore(), log: { info() {} } });
  const issuer = 'https://fhir.example.org/fhir';
  const settings: AccessTokenSettings = { issuer, audience: issuer, ttlSeconds: 300, clockSkewSeconds: 30 };
  const sign = (payload: Record<string, unknown>) => new SignJWT(payload as JWTPayload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: KID }).sign(privateKey);

  t.ok((await verifyAccessToken(keys, settings, await sign(goodClaims(issuer)))).ok, 'the control token passes');
  for (const [claim, values] of Object.entries(WRONG)) {
    for (const value of values) {
      const result = await verifyAccessToken(keys, settings, await sign({ ...goodClaims(issuer), [claim]: value }));
      t.equal(result.ok, false, `${claim} = ${JSON.stringify(value)} is refused`);
      // A wrongly typed iss or aud cannot equal ours: jose reports the mismatch itself.
      const expected = claim === 'iss' ? /issued by another server/ : claim === 'aud' ? /another audience/ : new RegExp(`\\b${claim}\\b`);
      if (!result.ok) t.match(result.description, expected, `the description says why: ${result.description}`);
    }
  }
});

t.test('through the CLI-started gateway: 401 invalid_token, nothing forwarded, introspection inactive', async (t) => {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'typed-1' }] as never);
  const { file, privateKey } = await signingKeyFile();
  const port = await freePort();
  const raw = baseRawConfig(port, upstream.baseUrl);
  raw.tokens = { access_token_ttl: '5m', signing_key_file: file };
  raw.audit = { enabled: false };
  const gw = await startGatewayProcess(t, { config: raw });
  const sign = (payload: Record<string, unknown>) => new SignJWT(payload as JWTPayload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: KID }).sign(privateKey);
  const read = (token: string) => fetch(`${gw.url}/Patient/typed-1`, { headers: { authorization: `Bearer ${token}` } });

  const control = await read(await sign(goodClaims(gw.url)));
  t.equal(control.status, 200, 'a hand-signed token with the right types is accepted (the key is the gateway’s)');
  await control.arrayBuffer();
  const before = upstream.received.length;

  for (const [name, sub] of [['an object', { id: 'backend' }], ['a number', 42]] as const) {
    const token = await sign({ ...goodClaims(gw.url), sub });
    const res = await read(token);
    t.equal(res.status, 401, `sub as ${name}: 401`);
    t.match(res.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token".*sub claim/, 'an invalid_token challenge naming the claim');
    const outcome = (await res.json()) as { resourceType: string };
    t.equal(outcome.resourceType, 'OperationOutcome');

    const introspection = await fetch(`${gw.url}/oauth/introspect`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`backend:${BACKEND_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    t.same(await introspection.json(), { active: false }, `sub as ${name}: introspection says inactive`);
  }
  for (const [claim, value] of [['patient', 42], ['client_id', ['backend']], ['jti', { id: 1 }]] as const) {
    const res = await read(await sign({ ...goodClaims(gw.url), [claim]: value }));
    t.equal(res.status, 401, `${claim} = ${JSON.stringify(value)}: 401`);
    await res.arrayBuffer();
  }
  t.equal(upstream.received.length, before, 'nothing reached the upstream');
});
