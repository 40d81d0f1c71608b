import t from 'tap';
import * as oidc from 'openid-client';
import type { IdTokenReplacement } from '../../../support/oidc-provider.js';
import { startFederation, type FederationSetup } from '../../../support/federation-fixtures.js';

/**
 * The ID token of the code flow is verified in full: signature (against the provider's JWKS),
 * iss, aud/azp, exp, nonce. Each case lets the real provider issue its token response and swaps
 * in an ID token the test made, so only the gateway's verification stands between it and a
 * signed-in person.
 */

const now = () => Math.floor(Date.now() / 1000);

async function signInWith(fed: FederationSetup, replace: (issued: IdTokenReplacement) => Promise<string> | string) {
  const { callback, browser } = await fed.signInAtProvider('dr-kim');
  fed.idp.replaceNextIdToken(replace);
  return fed.complete(callback, browser);
}

t.test('each forged, foreign or stale ID token is refused; nobody is signed in', async (t) => {
  const fed = await startFederation(t);

  const control = await signInWith(fed, ({ claims }) => fed.idp.mintIdToken(claims, 'provider'));
  t.equal(control.ok, true, 'control: the same claims re-signed with the provider key are accepted (the swap itself breaks nothing)');

  const cases: [string, (issued: IdTokenReplacement) => Promise<string> | string, RegExp][] = [
    ['signed by another key announcing the provider key’s kid', ({ claims }) => fed.idp.mintIdToken(claims, 'foreign'), /signature/i],
    ['alg none (no signature)', ({ claims }) => fed.idp.mintIdToken(claims, 'none'), /alg|signature|unexpected/i],
    [
      'payload changed under the provider’s signature (employee_id swapped)',
      ({ original, claims }) => {
        const [header, , signature] = original.split('.');
        const payload = Buffer.from(JSON.stringify({ ...claims, employee_id: 'E-9999' })).toString('base64url');
        return `${header}.${payload}.${signature}`;
      },
      /signature/i,
    ],
    ['issued by another issuer', ({ claims }) => fed.idp.mintIdToken({ ...claims, iss: 'https://evil.example.org' }, 'provider'), /iss/],
    ['for another audience', ({ claims }) => fed.idp.mintIdToken({ ...claims, aud: 'some-other-client' }, 'provider'), /aud/],
    [
      'for several audiences, authorized for another party',
      ({ claims }) => fed.idp.mintIdToken({ ...claims, aud: [String(claims.aud), 'some-other-client'], azp: 'some-other-client' }, 'provider'),
      /azp/,
    ],
    ['expired two minutes ago', ({ claims }) => fed.idp.mintIdToken({ ...claims, iat: now() - 3720, exp: now() - 120 }, 'provider'), /exp|timestamp/i],
    ['with another nonce (a token from another sign-in)', ({ claims }) => fed.idp.mintIdToken({ ...claims, nonce: 'someone-elses-nonce' }, 'provider'), /nonce/],
    [
      'without a nonce',
      ({ claims }) => {
        const { nonce: _nonce, ...rest } = claims;
        return fed.idp.mintIdToken(rest, 'provider');
      },
      /nonce/,
    ],
    ['without a subject', ({ claims }) => {
      const { sub: _sub, ...rest } = claims;
      return fed.idp.mintIdToken(rest, 'provider');
    }, /sub/],
  ];
  for (const [label, replace, reason] of cases) {
    const result = await signInWith(fed, replace);
    t.match(result, { ok: false, kind: 'invalid-response', outcome: 'error-page', providerId: 'hospital-sso' }, label);
    if (!result.ok) t.match(result.description, reason, `${label}: ${result.description}`);
  }
});

t.test('why the signature check is switched on: openid-client alone accepts the forged token', async (t) => {
  const fed = await startFederation(t);
  // The same provider, the same client, but the configuration openid-client gives by default.
  const plain = await oidc.discovery(new URL(fed.idp.issuer), fed.idp.clientId, undefined, oidc.ClientSecretBasic(fed.idp.clientSecret), {
    execute: [oidc.allowInsecureRequests],
  });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(plain, {
    redirect_uri: fed.idp.redirectUri,
    scope: 'openid profile',
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const callback = await fed.idp.signIn(url, 'dr-kim');
  fed.idp.replaceNextIdToken(({ claims }) => fed.idp.mintIdToken({ ...claims, employee_id: 'E-FORGED' }, 'foreign'));
  const tokens = await oidc.authorizationCodeGrant(plain, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  t.equal(tokens.claims()?.['employee_id'], 'E-FORGED', 'accepted: without enableNonRepudiationChecks the signature is never looked at');

  const refused = await signInWith(fed, ({ claims }) => fed.idp.mintIdToken({ ...claims, employee_id: 'E-FORGED' }, 'foreign'));
  t.match(refused, { ok: false, kind: 'invalid-response' }, 'the gateway’s relying party refuses the same forgery');
});
