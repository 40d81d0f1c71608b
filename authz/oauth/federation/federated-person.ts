import { createHash } from 'node:crypto';
import type { SignedInUser } from '../users/users.js';

/**
 * A person signed in through an external OpenID provider, as the rest of the gateway sees them.
 * Identified by the ID token's `iss` + `sub` only (OIDC Core §5.7: e-mail and names change and
 * can be reassigned; the pair never is).
 */
export interface FederatedPerson {
  /**
   * Stable, opaque key of the person: `fed-` and the SHA-256 (base64url) of [iss, sub]. It is the
   * `sub` of the gateway's tokens and the key of their consents; it cannot collide with another
   * issuer's subject, and its length does not depend on what the provider sends.
   */
  key: string;
  /** identity_providers[].id they came through. */
  providerId: string;
  issuer: string;
  subject: string;
  /** SMART fhirUser reference (from the fhir_user template). */
  fhirUser: string;
  /** Bare Patient id of a fixed patient context (from the patient template), if any. */
  patient?: string;
  /** Resource scopes this person may grant an app (resource_scope ∪ resource_scope_by_claim); may be empty. */
  resourceScope: string;
  /** For pages only (name, preferred_username or email claim): never an identifier. */
  displayName?: string;
  /** Seconds since the epoch when the person authenticated at the provider (auth_time, else the callback time). */
  authTime: number;
}

export function personKey(issuer: string, subject: string): string {
  // JSON encoding keeps the pair unambiguous whatever characters either part holds.
  return `fed-${createHash('sha256').update(JSON.stringify([issuer, subject]), 'utf8').digest('base64url')}`;
}

/** The shape the authorize and token endpoints already work with for configured users. */
export function federatedSignedInUser(person: FederatedPerson): SignedInUser {
  return {
    username: person.key,
    fhirUser: person.fhirUser,
    scope: person.resourceScope,
    providerId: person.providerId,
    ...(person.patient !== undefined ? { patient: person.patient } : {}),
    ...(person.displayName !== undefined ? { displayName: person.displayName } : {}),
  };
}
