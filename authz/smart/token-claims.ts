/**
 * What a verified access token says: the RFC 9068 claims every token of this gateway carries,
 * and the SMART launch context. Typed once, here, where the access decision (the innermost
 * layer) reads it; authz/tokens/ issues and verifies tokens of this shape.
 */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  client_id: string;
  scope: string;
  jti: string;
  iat: number;
  exp: number;
  /** SMART launch context: the bare Patient id. */
  patient?: string;
  /** SMART launch context: a reference such as Practitioner/123. */
  fhirUser?: string;
}

/** The claims that decide which of a token's scopes are honoured, and the only ones the decision reads. */
export type ScopeClaims = Pick<AccessTokenClaims, 'scope' | 'patient' | 'fhirUser'>;
