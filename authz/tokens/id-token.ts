import { SignJWT } from 'jose';
import { SIGNING_ALG, type KeyRing } from './signing-keys.js';

/** OpenID Connect Core §2 ID token, issued when `openid` is granted. */
interface IdTokenInput {
  issuer: string;
  clientId: string;
  sub: string;
  ttlSeconds: number;
  nonce?: string;
  authTime?: number;
  /** SMART: an absolute URL of the user's FHIR resource, present when `fhirUser` is granted. */
  fhirUser?: string;
}

export async function issueIdToken(keys: KeyRing, input: IdTokenInput, now: number = Math.floor(Date.now() / 1000)): Promise<string> {
  const claims: Record<string, unknown> = {
    iss: input.issuer,
    sub: input.sub,
    aud: input.clientId,
    iat: now,
    exp: now + input.ttlSeconds,
    ...(input.nonce !== undefined ? { nonce: input.nonce } : {}),
    ...(input.authTime !== undefined ? { auth_time: input.authTime } : {}),
    ...(input.fhirUser !== undefined ? { fhirUser: input.fhirUser } : {}),
  };
  return new SignJWT(claims).setProtectedHeader({ alg: SIGNING_ALG, typ: 'JWT', kid: keys.signing.kid }).sign(keys.signing.privateKey);
}
