import type { Runtime } from '../../runtime.js';
import { federatedSignedInUser, type FederatedPerson } from '../federation/federated-person.js';
import type { TokenSubject } from '../user-tokens.js';
import { usersOf, type SignedInUser } from './users.js';

/**
 * The user a browser session stands for, if the current configuration still honours them: a
 * configured user must still be in `users:`, a federated person's provider still configured.
 */
export function sessionUser(runtime: Runtime, session: { username: string; person?: FederatedPerson }): SignedInUser | undefined {
  if (session.person !== undefined) {
    return runtime.relyingParties.get(session.person.providerId) ? federatedSignedInUser(session.person) : undefined;
  }
  return usersOf(runtime.config).find(session.username);
}

/**
 * The person behind a code or refresh token, as the token endpoint may still honour them, with
 * the patient context of that grant (their own patient, the EHR launch's or the one they
 * picked), so a refresh is narrowed exactly as the authorization was:
 * - a configured user must still be in `users:` (their scope is today's);
 * - a federated person's provider must still be configured; their scope is what they could
 *   grant at sign-in (the gateway cannot ask the provider again without the person).
 * Undefined when neither holds: the grant is no longer honoured.
 */
export function grantingUser(runtime: Runtime, subject: TokenSubject): SignedInUser | undefined {
  const context = subject.patient !== undefined ? { patient: subject.patient } : {};
  if (subject.federated !== undefined) {
    if (!runtime.relyingParties.get(subject.federated.providerId)) return undefined;
    return {
      username: subject.username,
      scope: subject.federated.resourceScope,
      providerId: subject.federated.providerId,
      ...(subject.fhirUser !== undefined ? { fhirUser: subject.fhirUser } : {}),
      ...context,
    };
  }
  const user = usersOf(runtime.config).find(subject.username);
  if (!user) return undefined;
  const { patient: _configured, ...rest } = user;
  return { ...rest, ...context };
}

/** The token subject of an authorization by `user` in the patient context `patient` (the inverse of grantingUser). */
export function grantSubject(user: SignedInUser, patient: string | undefined): TokenSubject {
  return {
    username: user.username,
    ...(patient !== undefined ? { patient } : {}),
    ...(user.fhirUser !== undefined ? { fhirUser: user.fhirUser } : {}),
    ...(user.providerId !== undefined ? { federated: { providerId: user.providerId, resourceScope: user.scope } } : {}),
  };
}
