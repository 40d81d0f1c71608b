import t from 'tap';
import { computeS256Challenge, validateCodeChallenge, verifyCodeVerifier } from '../../../authz/oauth/pkce.js';

// RFC 7636 Appendix B.
const RFC_VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const RFC_CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

t.test('computes the RFC 7636 Appendix B challenge', async (t) => {
  t.equal(computeS256Challenge(RFC_VERIFIER), RFC_CHALLENGE);
});

t.test('validateCodeChallenge', async (t) => {
  t.same(validateCodeChallenge(RFC_CHALLENGE, 'S256'), { ok: true });

  const plain = validateCodeChallenge(RFC_CHALLENGE, 'plain');
  t.equal(plain.ok, false);
  t.match(!plain.ok && plain.description, /plain.*not supported.*S256/);

  for (const method of [undefined, '', 's256', 'S512', 'S256 ']) {
    t.same(validateCodeChallenge(RFC_CHALLENGE, method), { ok: false, description: 'code_challenge_method must be S256' }, `method ${String(method)}`);
  }

  const badChallenges: unknown[] = [
    undefined,
    '',
    RFC_CHALLENGE.slice(0, 42), // too short
    RFC_CHALLENGE + 'A', // too long
    RFC_CHALLENGE.replace('-', '+'), // base64, not base64url
    RFC_CHALLENGE.slice(0, 42) + '=', // padding
    RFC_CHALLENGE.slice(0, 42) + 'N', // non-canonical final character: not 32 bytes
    42,
  ];
  for (const challenge of badChallenges) {
    t.equal(validateCodeChallenge(challenge, 'S256').ok, false, `challenge ${JSON.stringify(challenge)}`);
  }
});

t.test('verifyCodeVerifier accepts the RFC vector', async (t) => {
  t.same(verifyCodeVerifier(RFC_VERIFIER, RFC_CHALLENGE), { ok: true });
});

t.test('verifyCodeVerifier accepts the full charset and length limits', async (t) => {
  const longest = 'a-._~'.repeat(25) + 'Z09'; // 128 characters
  t.equal(longest.length, 128);
  t.same(verifyCodeVerifier(longest, computeS256Challenge(longest)), { ok: true });
  const shortest = 'x'.repeat(43);
  t.same(verifyCodeVerifier(shortest, computeS256Challenge(shortest)), { ok: true });
});

t.test('verifyCodeVerifier refuses', async (t) => {
  const other = 'A'.repeat(43);
  t.same(verifyCodeVerifier(other, RFC_CHALLENGE), { ok: false, description: 'code_verifier does not match the code_challenge' }, 'wrong verifier');

  const tooShort = 'x'.repeat(42);
  t.match(verifyCodeVerifier(tooShort, computeS256Challenge(tooShort)), { ok: false, description: /43 to 128/ }, 'too short');
  const tooLong = 'x'.repeat(129);
  t.match(verifyCodeVerifier(tooLong, computeS256Challenge(tooLong)), { ok: false, description: /43 to 128/ }, 'too long');
  const badChar = 'x'.repeat(42) + '+';
  t.match(verifyCodeVerifier(badChar, computeS256Challenge(badChar)), { ok: false, description: /43 to 128/ }, 'bad character');
  const space = 'x'.repeat(42) + ' ';
  t.equal(verifyCodeVerifier(space, computeS256Challenge(space)).ok, false, 'space');

  t.match(verifyCodeVerifier(undefined, RFC_CHALLENGE), { ok: false, description: 'code_verifier is required' });
  t.match(verifyCodeVerifier('', RFC_CHALLENGE), { ok: false, description: 'code_verifier is required' });

  // plain downgrade: the client presents the challenge as its verifier.
  t.equal(verifyCodeVerifier(RFC_CHALLENGE, RFC_CHALLENGE).ok, false, 'verifier equal to challenge');

  // a stored challenge of a different length must not throw in timingSafeEqual.
  t.equal(verifyCodeVerifier(RFC_VERIFIER, RFC_CHALLENGE.slice(0, 40)).ok, false, 'short stored challenge');
});
