/**
 * The type of every claim the gateway relies on in one of its access tokens, checked after the
 * signature: a token signed with our key but carrying `sub: {...}` or `patient: 42` (a bug in a
 * key holder's tooling, or a key misused to mint tokens by hand) must not reach code that treats
 * these claims as strings. jose already refuses non-numeric `exp`/`nbf`/`iat` and compares `iss`,
 * `aud` and `typ`; it does not look at the type of `sub`, `jti` or our own claims.
 *
 * Registered claims (RFC 7519 §4.1): `iss` and `sub` are StringOrURI, `aud` one string or an
 * array of strings, `exp`/`nbf`/`iat` NumericDate (a finite number), `jti` a string. RFC 9068
 * §2.2 makes `iss`, `exp`, `aud`, `sub`, `client_id`, `iat` and `jti` required; `scope` (RFC 8693
 * §4.2) is a space-separated string; SMART's `patient` (a bare id) and `fhirUser` (a reference)
 * are strings.
 */

type ClaimRule = { claim: string; required: boolean; valid: (value: unknown) => boolean; expected: string };

const nonEmptyString = (value: unknown) => typeof value === 'string' && value !== '';
const numericDate = (value: unknown) => typeof value === 'number' && Number.isFinite(value);
const stringOrStrings = (value: unknown) => nonEmptyString(value) || (Array.isArray(value) && value.length > 0 && value.every(nonEmptyString));

const RULES: readonly ClaimRule[] = [
  { claim: 'iss', required: true, valid: nonEmptyString, expected: 'a non-empty string' },
  { claim: 'sub', required: true, valid: nonEmptyString, expected: 'a non-empty string' },
  { claim: 'aud', required: true, valid: stringOrStrings, expected: 'a string or an array of strings' },
  { claim: 'exp', required: true, valid: numericDate, expected: 'a number (NumericDate)' },
  { claim: 'nbf', required: false, valid: numericDate, expected: 'a number (NumericDate)' },
  { claim: 'iat', required: true, valid: numericDate, expected: 'a number (NumericDate)' },
  { claim: 'jti', required: true, valid: nonEmptyString, expected: 'a non-empty string' },
  { claim: 'client_id', required: true, valid: nonEmptyString, expected: 'a non-empty string' },
  // An empty scope is a token that grants nothing, which is still a well-formed token.
  { claim: 'scope', required: true, valid: (value) => typeof value === 'string', expected: 'a string' },
  { claim: 'patient', required: false, valid: nonEmptyString, expected: 'a non-empty string' },
  { claim: 'fhirUser', required: false, valid: nonEmptyString, expected: 'a non-empty string' },
];

/** Why the claims of a verified access token are unusable (the first problem found), or undefined. */
export function accessTokenClaimProblem(payload: Readonly<Record<string, unknown>>): string | undefined {
  for (const rule of RULES) {
    const value = payload[rule.claim];
    if (value === undefined) {
      if (rule.required) return `The access token lacks the ${rule.claim} claim`;
      continue;
    }
    if (!rule.valid(value)) return `The access token's ${rule.claim} claim must be ${rule.expected}`;
  }
  return undefined;
}
