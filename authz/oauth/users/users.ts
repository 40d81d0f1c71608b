import type { UserConfig } from '../../../config/types.js';
import { verifyAgainstDummy, verifyPassword } from './password-hash.js';

/** Who signed in, as the token endpoint and the consent page need it. */
export interface SignedInUser {
  username: string;
  /** SMART fhirUser reference, e.g. `Practitioner/123`. */
  fhirUser?: string;
  /** Bare Patient id of the user's patient context (`456` for `Patient/456`). */
  patient?: string;
  /** Resource scopes this user can ever grant. */
  scope: string;
  /** identity_providers[].id, for a person who signed in through an identity provider (absent: a configured user). */
  providerId?: string;
  /** For pages only: a federated person's name; configured users are shown by username. */
  displayName?: string;
}

function toSignedInUser(user: UserConfig): SignedInUser {
  return {
    username: user.username,
    scope: user.scope,
    ...(user.fhir_user !== undefined ? { fhirUser: user.fhir_user } : {}),
    ...(user.patient !== undefined ? { patient: user.patient.slice('Patient/'.length) } : {}),
  };
}

/** The configured users by username. Built per runtime snapshot, never mutated. */
export class UserDirectory {
  private readonly byName: ReadonlyMap<string, UserConfig>;

  constructor(users: readonly UserConfig[]) {
    this.byName = new Map(users.map((u) => [u.username, u]));
  }

  find(username: string): SignedInUser | undefined {
    const user = this.byName.get(username);
    return user ? toSignedInUser(user) : undefined;
  }

  /**
   * Checks a username and password. An unknown user costs the same scrypt work as a wrong
   * password, so response times do not tell which usernames exist.
   */
  async authenticate(username: string, password: string): Promise<SignedInUser | undefined> {
    const user = this.byName.get(username);
    if (!user) {
      await verifyAgainstDummy(password);
      return undefined;
    }
    return (await verifyPassword(password, user.password_hash)) ? toSignedInUser(user) : undefined;
  }
}

const directories = new WeakMap<object, UserDirectory>();

/** One directory per (frozen) config, so a reload picks up the new user list. */
export function usersOf(config: { users?: readonly UserConfig[] }): UserDirectory {
  let directory = directories.get(config);
  if (!directory) {
    directory = new UserDirectory(config.users ?? []);
    directories.set(config, directory);
  }
  return directory;
}
