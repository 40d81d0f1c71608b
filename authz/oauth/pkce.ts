import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * PKCE (RFC 7636) with S256 only. `plain` is refused: it protects nothing once the
 * authorization request leaks, and SMART App Launch v2 requires S256.
 */

type PkceCheck = { ok: true } | { ok: false; description: string };

/**
 * base64url of a 32-byte SHA-256: 43 characters, and because 43*6 = 258 bits the last
 * character carries two zero padding bits, so only every fourth alphabet letter can end it.
 */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
/** RFC 7636 §4.1: unreserved characters, 43 to 128 of them. */
const CODE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/** Checks the authorization request's code_challenge and code_challenge_method. */
export function validateCodeChallenge(challenge: unknown, method: unknown): PkceCheck {
  if (method === 'plain') {
    return { ok: false, description: 'code_challenge_method "plain" is not supported; use S256' };
  }
  if (method !== 'S256') {
    return { ok: false, description: 'code_challenge_method must be S256' };
  }
  if (typeof challenge !== 'string' || challenge === '') {
    return { ok: false, description: 'code_challenge is required' };
  }
  if (!S256_CHALLENGE.test(challenge)) {
    return { ok: false, description: 'code_challenge must be the base64url SHA-256 of the code_verifier (43 characters)' };
  }
  return { ok: true };
}

/** Checks the token request's code_verifier against the challenge stored with the code. */
export function verifyCodeVerifier(verifier: unknown, challenge: string): PkceCheck {
  if (typeof verifier !== 'string' || verifier === '') {
    return { ok: false, description: 'code_verifier is required' };
  }
  if (!CODE_VERIFIER.test(verifier)) {
    return { ok: false, description: 'code_verifier must be 43 to 128 characters from A-Z a-z 0-9 - . _ ~' };
  }
  // A client sending the challenge itself is doing "plain" PKCE, which we never agreed to.
  if (verifier === challenge) {
    return { ok: false, description: 'code_verifier does not match the code_challenge' };
  }
  const expected = Buffer.from(computeS256Challenge(verifier), 'ascii');
  const actual = Buffer.from(challenge, 'ascii');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    return { ok: false, description: 'code_verifier does not match the code_challenge' };
  }
  return { ok: true };
}

/** BASE64URL(SHA256(ASCII(verifier))) as in RFC 7636 §4.2. */
export function computeS256Challenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}
