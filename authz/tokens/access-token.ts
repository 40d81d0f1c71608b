import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose';
import type { AccessTokenClaims } from '../smart/token-claims.js';
import { SIGNING_ALG, type KeyRing } from './signing-keys.js';
import { accessTokenClaimProblem } from './access-token-claims.js';

/** RFC 9068 §2.1: the media type that tells an access token from an ID token or any other JWT. */
const ACCESS_TOKEN_TYP = 'at+jwt';

interface IssuedAccessToken {
  token: string;
  claims: AccessTokenClaims;
  expiresIn: number;
}

export interface AccessTokenSettings {
  issuer: string;
  audience: string;
  ttlSeconds: number;
  clockSkewSeconds: number;
}

export async function issueAccessToken(
  keys: KeyRing,
  settings: AccessTokenSettings,
  subject: { sub: string; client_id: string; scope: string; patient?: string; fhirUser?: string },
  now: number = Math.floor(Date.now() / 1000),
): Promise<IssuedAccessToken> {
  const claims: AccessTokenClaims = {
    iss: settings.issuer,
    sub: subject.sub,
    aud: settings.audience,
    client_id: subject.client_id,
    scope: subject.scope,
    jti: randomUUID(),
    iat: now,
    exp: now + settings.ttlSeconds,
    ...(subject.patient !== undefined ? { patient: subject.patient } : {}),
    ...(subject.fhirUser !== undefined ? { fhirUser: subject.fhirUser } : {}),
  };
  const token = await new SignJWT({ ...claims })
    .setProtectedHeader({ alg: SIGNING_ALG, typ: ACCESS_TOKEN_TYP, kid: keys.signing.kid })
    .sign(keys.signing.privateKey);
  return { token, claims, expiresIn: settings.ttlSeconds };
}

export type VerifyResult = { ok: true; claims: AccessTokenClaims } | { ok: false; description: string };

/**
 * RFC 9068 §4 validation: signature with one of our keys and only the algorithm we issue
 * (so `alg: none` and HS256-with-the-public-key are refused before any crypto), `typ`,
 * `iss`, `aud`, `exp`/`nbf` with a small skew, and the type of every claim the proxy relies on
 * (authz/tokens/access-token-claims.ts).
 */
export async function verifyAccessToken(keys: KeyRing, settings: AccessTokenSettings, token: string): Promise<VerifyResult> {
  try {
    const { payload } = await jwtVerify(
      token,
      (header: JWTHeaderParameters) => {
        const key = header.kid ? keys.byKid.get(header.kid) : undefined;
        if (!key) throw new UnknownKeyError();
        return key.publicKey;
      },
      {
        algorithms: [SIGNING_ALG],
        issuer: settings.issuer,
        audience: settings.audience,
        typ: ACCESS_TOKEN_TYP,
        clockTolerance: settings.clockSkewSeconds,
        requiredClaims: ['exp', 'iat', 'jti', 'sub'],
      },
    );
    // Signed by us is not enough: every claim the proxy reads must also have its type.
    const problem = accessTokenClaimProblem(payload);
    if (problem !== undefined) return { ok: false, description: problem };
    return { ok: true, claims: payload as unknown as AccessTokenClaims };
  } catch (err) {
    return { ok: false, description: describeVerifyError(err) };
  }
}

class UnknownKeyError extends Error {}

function describeVerifyError(err: unknown): string {
  if (err instanceof UnknownKeyError) return 'The access token was not signed by this gateway';
  if (err instanceof joseErrors.JWTExpired) return 'The access token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    // jose's own type and presence checks (exp, nbf, iat; the required claims).
    if (err.reason === 'invalid') return `The access token's ${err.claim} claim must be a number (NumericDate)`;
    if (err.reason === 'missing') return `The access token lacks the ${err.claim} claim`;
    if (err.claim === 'nbf' || err.claim === 'iat') return 'The access token is not valid yet';
    if (err.claim === 'aud') return 'The access token is meant for another audience';
    if (err.claim === 'iss') return 'The access token was issued by another server';
    if (err.claim === 'typ') return 'The token is not an access token (typ must be at+jwt)';
    return `The access token's ${err.claim} claim is invalid`;
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'The access token is signed with an algorithm this gateway does not issue';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'The access token signature is invalid';
  return 'The access token is malformed';
}
