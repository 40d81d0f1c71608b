import type { ClientConfig } from '../../config/types.js';
import { issueAccessToken } from '../tokens/access-token.js';
import { issueIdToken } from '../tokens/id-token.js';
import { RefreshTokens } from './records/refresh-tokens.js';
import type { LaunchContextFields } from './records/launch-context.js';
import type { Runtime } from '../runtime.js';
import { hasScope } from './scope-narrowing.js';
import { refreshTokenTtl, tokenFamilies } from './lifetimes.js';
import type { TokenResponseBody } from './token-response.js';

/** The person a user-flow token is about: the subject and the SMART launch context. */
export interface TokenSubject {
  /** A configured user's username, or a federated person's key: the tokens' `sub`. */
  username: string;
  /** Bare Patient id: the person's own patient, the EHR launch's, or the one picked. */
  patient?: string;
  /** Reference such as `Practitioner/123`. */
  fhirUser?: string;
  /** A person who signed in through an identity provider: which one, and what they could grant then. */
  federated?: FederatedGrantor;
}

/**
 * What the token endpoint knows of a federated person long after they signed in: it cannot ask
 * the provider again, so a refresh is capped by the resource scope they had at sign-in, and
 * stops working when the provider is removed from the configuration.
 */
export interface FederatedGrantor {
  providerId: string;
  resourceScope: string;
}

/** What an EHR launch adds to the token response beyond the patient (SMART App Launch 2.x). */
export type EhrContext = Omit<LaunchContextFields, 'patient'>;

/** The subject and launch context of anything that carries them (a code, a refresh record, a user). */
export function tokenSubject(from: TokenSubject): TokenSubject {
  return {
    username: from.username,
    ...(from.patient !== undefined ? { patient: from.patient } : {}),
    ...(from.fhirUser !== undefined ? { fhirUser: from.fhirUser } : {}),
    ...(from.federated !== undefined ? { federated: from.federated } : {}),
  };
}

interface UserTokenRequest {
  client: ClientConfig;
  subject: TokenSubject;
  /** Scope of this access token. */
  scope: string;
  /** What the user consented to, carried by the refresh token; equals `scope` except after a narrowed refresh. */
  consentedScope: string;
  /** The family the tokens join; none for implicit, which never gets a refresh token. */
  familyId?: string;
  nonce?: string;
  authTime?: number;
  /** The EHR launch's encounter, fhirContext, banner and style, when the grant came from one. */
  ehrContext?: EhrContext;
}

/**
 * Issues the tokens of a user flow (code, implicit, password, refresh): the access token with
 * its launch context, a refresh token when the client may refresh and `offline_access` or
 * `online_access` was granted, and an ID token when `openid` was granted.
 */
export async function issueUserTokens(runtime: Runtime, request: UserTokenRequest): Promise<TokenResponseBody> {
  const { client, subject, scope, ehrContext } = request;
  const patient = patientContext(scope, subject);
  const fhirUser = hasScope(scope, 'fhirUser') ? subject.fhirUser : undefined;

  const access = await issueAccessToken(runtime.keys, runtime.tokens, {
    sub: subject.username,
    client_id: client.client_id,
    scope,
    ...(patient !== undefined ? { patient } : {}),
    ...(fhirUser !== undefined ? { fhirUser } : {}),
  });
  const families = tokenFamilies(runtime);
  if (request.familyId !== undefined) await families.addAccessToken(request.familyId, access.claims.jti, access.claims.exp);

  const body: TokenResponseBody = { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, scope };

  if (request.familyId !== undefined && mayRefresh(client, request.consentedScope)) {
    const { token, hash } = await new RefreshTokens(runtime.store).issue({
      familyId: request.familyId,
      clientId: client.client_id,
      scope: request.consentedScope,
      ...tokenSubject(subject),
      ...(request.authTime !== undefined ? { authTime: request.authTime } : {}),
      ...(ehrContext !== undefined ? { ehrContext } : {}),
      exp: Math.floor(Date.now() / 1000) + refreshTokenTtl(runtime),
    });
    await families.setRefreshHash(request.familyId, hash);
    body.refresh_token = token;
  }

  if (hasScope(scope, 'openid')) {
    body.id_token = await issueIdToken(runtime.keys, {
      issuer: runtime.tokens.issuer,
      clientId: client.client_id,
      sub: subject.username,
      ttlSeconds: runtime.tokens.ttlSeconds,
      ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
      ...(request.authTime !== undefined ? { authTime: request.authTime } : {}),
      ...(fhirUser !== undefined ? { fhirUser: `${runtime.publicUrl}/${fhirUser}` } : {}),
    });
  }

  if (patient !== undefined) {
    // SMART: the bare id; a standalone launch has no EHR around it to show the patient, an EHR
    // launch says whether its own banner is showing.
    body.patient = patient;
    body.need_patient_banner = ehrContext?.needPatientBanner ?? true;
  }
  if (ehrContext !== undefined && hasScope(scope, 'launch')) {
    if (ehrContext.encounter !== undefined) body.encounter = ehrContext.encounter;
    if (ehrContext.fhirContext !== undefined) body.fhirContext = ehrContext.fhirContext;
    if (ehrContext.smartStyleUrl !== undefined) body.smart_style_url = ehrContext.smartStyleUrl;
  }
  return body;
}

function mayRefresh(client: ClientConfig, scope: string): boolean {
  return client.grant_types.includes('refresh_token') && (hasScope(scope, 'offline_access') || hasScope(scope, 'online_access'));
}

/** The patient goes into the token only when the app asked for patient context or patient data. */
function patientContext(scope: string, subject: TokenSubject): string | undefined {
  if (subject.patient === undefined) return undefined;
  const wantsPatient = scope.split(' ').some((s) => s === 'launch' || s === 'launch/patient' || s.startsWith('patient/'));
  return wantsPatient ? subject.patient : undefined;
}
