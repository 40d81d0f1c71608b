import t, { type Test } from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, exportJWK } from 'jose';
import { browserBindingCookieName, browserBindingFor, readBrowserBinding } from '../../../../authz/oauth/federation/browser-binding.js';
import { ProviderClientKeyError } from '../../../../authz/oauth/federation/provider-client-key.js';
import { PROVIDER_TIMEOUT_SECONDS, RelyingParties, loadRelyingParties } from '../../../../authz/oauth/federation/relying-parties.js';
import { startFederatedSignIn } from '../../../../authz/oauth/federation/sign-in-redirect.js';
import { FederatedSignIns } from '../../../../authz/oauth/records/federated-sign-ins.js';
import { randomToken } from '../../../../authz/crypto/random-token.js';
import { GATEWAY_PUBLIC_URL, startFederation } from '../../../support/federation-fixtures.js';
import { makeClientKey } from '../../../support/oidc-provider.js';

/** Talking to the provider: down, slow, http, and the three ways the gateway authenticates to it. */

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-idp-keys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('provider down before anyone signed in: error page; back up: sign-ins work (a failed discovery is not cached)', async (t) => {
  const fed = await startFederation(t);
  await fed.idp.stop();
  const refused = await startFederatedSignIn(fed.relyingParties, fed.signIns, { providerId: 'hospital-sso', interactionId: 'i-1', browserBinding: randomToken(32) });
  t.match(refused, { ok: false, kind: 'provider-unreachable', outcome: 'error-page', interactionId: 'i-1' });

  await fed.idp.restart();
  const { callback, browser } = await fed.signInAtProvider('dr-kim');
  t.match(await fed.complete(callback, browser), { ok: true, person: { fhirUser: 'Practitioner/E-1001' } });
});

t.test('provider down between the sign-in and the callback: error page, nobody signed in', async (t) => {
  const fed = await startFederation(t);
  const { callback, browser } = await fed.signInAtProvider('dr-kim');
  await fed.idp.stop();
  const result = await fed.complete(callback, browser);
  t.match(result, { ok: false, kind: 'provider-unreachable', outcome: 'error-page' });
  if (!result.ok) t.match(result.description, /^code exchange: the identity provider did not answer usably/);

  await fed.idp.restart();
  t.match(await fed.complete(callback, browser), { ok: false, kind: 'unknown-state' }, 'that sign-in is used up: the person starts again');
  const again = await fed.signInAtProvider('dr-kim');
  t.match(await fed.complete(again.callback, again.browser), { ok: true });
});

t.test('a provider that never answers: every call gives up after the timeout', async (t) => {
  t.equal(PROVIDER_TIMEOUT_SECONDS, 10);
  const standard = await startFederation(t);
  t.equal((await standard.relyingParties.configuration('hospital-sso')).timeout, 10, 'the 10 s timeout is on every call the configuration makes');

  const fed = await startFederation(t, { relyingParty: { timeoutSeconds: 1 } });
  const { callback, browser } = await fed.signInAtProvider('dr-kim');
  fed.idp.hang();
  const started = Date.now();
  const result = await fed.complete(callback, browser);
  const elapsed = Date.now() - started;
  t.match(result, { ok: false, kind: 'provider-unreachable', outcome: 'error-page' });
  if (!result.ok) t.match(result.description, /timed out/);
  t.ok(elapsed >= 900 && elapsed < 5000, `gave up after the timeout (${elapsed} ms)`);

  const slowDiscovery = await startFederation(t, { relyingParty: { timeoutSeconds: 1 } });
  slowDiscovery.idp.hang();
  const refused = await startFederatedSignIn(slowDiscovery.relyingParties, slowDiscovery.signIns, { providerId: 'hospital-sso', interactionId: 'i', browserBinding: randomToken(32) });
  t.match(refused, { ok: false, kind: 'provider-unreachable' }, 'discovery too');
});

t.test('http only with allow_http', async (t) => {
  const fed = await startFederation(t);
  // The config loader never lets this through; the relying party does not rely on that.
  const strict = new RelyingParties([{ ...fed.provider, allow_http: false }], GATEWAY_PUBLIC_URL, new Map());
  const before = fed.idp.requests.length;
  const refused = await startFederatedSignIn(strict, new FederatedSignIns(fed.store), { providerId: 'hospital-sso', interactionId: 'i', browserBinding: randomToken(32) });
  t.match(refused, { ok: false, outcome: 'error-page' });
  if (!refused.ok) t.match(refused.description, /HTTPS/);
  t.equal(fed.idp.requests.length, before, 'no request was sent over http');
});

t.test('client_secret_post, and a wrong secret', async (t) => {
  const fed = await startFederation(t, { idp: { clientAuth: { method: 'client_secret_post' } } });
  t.equal(fed.provider.token_endpoint_auth_method, 'client_secret_post');
  const ok = await fed.signInAtProvider('dr-kim');
  t.match(await fed.complete(ok.callback, ok.browser), { ok: true });

  const wrong = await startFederation(t, { entry: { client_secret: 'not-the-secret' } });
  const attempt = await wrong.signInAtProvider('dr-kim');
  const result = await wrong.complete(attempt.callback, attempt.browser);
  t.match(result, { ok: false, kind: 'code-rejected', outcome: 'error-page', description: /invalid_client/ });
  t.notMatch(JSON.stringify(result), /not-the-secret/, 'the secret is not in the failure');
});

t.test('private_key_jwt with signing_key_file', async (t) => {
  const dir = await tempDir(t);
  const registered = await makeClientKey('gw-key-1');
  const keyFile = join(dir, 'gateway-client.jwk');
  await writeFile(keyFile, JSON.stringify(registered.privateJwk));

  const fed = await startFederation(t, {
    idp: { clientAuth: { method: 'private_key_jwt', jwks: registered.publicJwks } },
    entry: { signing_key_file: keyFile },
  });
  const publicJwk = fed.relyingParties.clientPublicJwk('hospital-sso');
  t.match(publicJwk, { kty: 'EC', crv: 'P-256', kid: 'gw-key-1', alg: 'ES256', use: 'sig' }, 'the public part, to register at the provider');
  t.notOk(publicJwk && 'd' in publicJwk, 'without the private part');
  const { callback, browser } = await fed.signInAtProvider('dr-kim');
  t.match(await fed.complete(callback, browser), { ok: true, person: { subject: 'dr-kim' } });
  t.equal(fed.idp.requests.filter((r) => r.path === '/token').length, 1);

  const stranger = await makeClientKey('gw-key-1');
  const strangerFile = join(dir, 'unregistered.jwk');
  await writeFile(strangerFile, JSON.stringify(stranger.privateJwk));
  const unregistered = await startFederation(t, {
    idp: { clientAuth: { method: 'private_key_jwt', jwks: registered.publicJwks } },
    entry: { signing_key_file: strangerFile },
  });
  const attempt = await unregistered.signInAtProvider('dr-kim');
  t.match(await unregistered.complete(attempt.callback, attempt.browser), { ok: false, kind: 'code-rejected', description: /invalid_client/ }, 'a key the provider does not know');
});

t.test('signing key files that cannot be used stop the start, naming the key', async (t) => {
  const dir = await tempDir(t);
  const base = { id: 'sso', name: 'SSO', issuer: 'https://sso.example.org', client_id: 'gw', token_endpoint_auth_method: 'private_key_jwt' as const, scope: 'openid', fhir_user: '{fhirUser}', resource_scope: 'user/*.rs', allow_http: false };
  const write = async (name: string, content: unknown) => {
    const path = join(dir, name);
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const rsaFile = await write('rsa.jwk', await exportJWK(rsa.privateKey));
  const loaded = await loadRelyingParties([{ ...base, signing_key_file: rsaFile }], GATEWAY_PUBLIC_URL);
  t.match(loaded.clientPublicJwk('sso'), { kty: 'RSA', alg: 'RS256', kid: /^[A-Za-z0-9_-]{43}$/ }, 'an RSA key without kid or alg: RS256, thumbprint kid');
  t.notOk('d' in loaded.clientPublicJwk('sso')! || 'p' in loaded.clientPublicJwk('sso')!, 'no private member in the public JWK');

  const cases: [string, string][] = [
    [join(dir, 'missing.jwk'), `identity_providers[1].signing_key_file: cannot read ${join(dir, 'missing.jwk')}: ENOENT`],
    [await write('garbage.jwk', 'not json'), `identity_providers[1].signing_key_file: ${join(dir, 'garbage.jwk')} is not JSON (expected one private RSA or EC JWK)`],
    [await write('public.jwk', await exportJWK(rsa.publicKey)), `identity_providers[1].signing_key_file: ${join(dir, 'public.jwk')} must hold one private JWK (an RSA or EC key with "d")`],
    [await write('jwks.jwk', { keys: [await exportJWK(rsa.privateKey)] }), `identity_providers[1].signing_key_file: ${join(dir, 'jwks.jwk')} must hold one private JWK (an RSA or EC key with "d")`],
    [await write('oct.jwk', { kty: 'oct', k: 'c2VjcmV0', d: 'x' }), `identity_providers[1].signing_key_file: ${join(dir, 'oct.jwk')}: expected an RSA key or an EC P-256/P-384/P-521 key with an RS*, PS* or ES* alg`],
  ];
  for (const [path, message] of cases) {
    const providers = [{ ...base, id: 'first', signing_key_file: rsaFile }, { ...base, signing_key_file: path }];
    await t.rejects(loadRelyingParties(providers, GATEWAY_PUBLIC_URL), new ProviderClientKeyError(message), message);
  }
});

t.test('browser binding cookie', async (t) => {
  const https = browserBindingFor(undefined, 'https://gw.example.org/fhir');
  t.match(https.value, /^[A-Za-z0-9_-]{43}$/);
  t.equal(https.setCookie, `__Host-fhirgw_federation=${https.value}; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure`, 'https: __Host- prefixed, so no sibling subdomain can plant one');
  t.equal(browserBindingCookieName('https://gw.example.org/fhir'), '__Host-fhirgw_federation');

  const cookieHeader = `other=1; __Host-fhirgw_federation=${https.value}; fhirgw_session=x`;
  t.equal(readBrowserBinding(cookieHeader, 'https://gw.example.org/fhir'), https.value);
  t.equal(browserBindingFor(cookieHeader, 'https://gw.example.org/fhir').value, https.value, 'a second sign-in in the same browser keeps the value (two tabs both finish)');
  t.equal(readBrowserBinding(`fhirgw_federation=${https.value}`, 'https://gw.example.org/fhir'), undefined, 'the unprefixed name does not count on https');
  t.equal(readBrowserBinding('__Host-fhirgw_federation=short', 'https://gw.example.org/fhir'), undefined, 'malformed');
  t.equal(readBrowserBinding(undefined, 'https://gw.example.org/fhir'), undefined);
  t.not(browserBindingFor('__Host-fhirgw_federation=short', 'https://gw.example.org/fhir').value, 'short', 'a malformed value is replaced');

  const http = browserBindingFor(undefined, 'http://127.0.0.1:8080');
  t.equal(http.setCookie, `fhirgw_federation=${http.value}; Path=/; Max-Age=600; HttpOnly; SameSite=Lax`, 'http (tests, demo): no prefix, no Secure');
});

t.test('one discovery cache per configuration snapshot; redirect URIs', async (t) => {
  const fed = await startFederation(t);
  const fresh = await loadRelyingParties([fed.provider], GATEWAY_PUBLIC_URL);
  t.not(await fresh.configuration('hospital-sso'), await fed.relyingParties.configuration('hospital-sso'), 'a reloaded configuration discovers afresh');
  t.same(fresh.all().map((p) => p.id), ['hospital-sso']);
  t.equal(fresh.redirectUri('hospital-sso'), `${GATEWAY_PUBLIC_URL}/oauth/callback/hospital-sso`);
  t.equal(new RelyingParties([fed.provider], `${GATEWAY_PUBLIC_URL}/`, new Map()).redirectUri('hospital-sso'), `${GATEWAY_PUBLIC_URL}/oauth/callback/hospital-sso`, 'a trailing slash on public_url is not doubled');
});
