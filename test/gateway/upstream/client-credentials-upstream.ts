import type { Test } from 'tap';
import { startGuardedUpstream, type GuardedUpstream } from '../../support/guarded-upstream.js';
import { startTokenServer, type TokenServer } from '../../support/oidc-token-server.js';

/**
 * The upstream of the client_credentials tests: a real OAuth server (oidc-provider) that counts
 * its token requests, and the Medplum FHIR server behind a check that accepts only its tokens,
 * seeded with a patient and an observation.
 */

export const SECRET = 'gw-secret: with +%& and spaces';
export const PATIENT = 'pat-a';

export const observation = (id: string, patient: string) => ({
  resourceType: 'Observation',
  ...(id ? { id } : {}),
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: `Patient/${patient}` },
});

export async function tokenServerAndUpstream(t: Test, accessTokenTtl?: number): Promise<{ server: TokenServer; upstream: GuardedUpstream }> {
  const server = await startTokenServer(t, {
    clients: [{ client_id: 'fhir-gateway', client_secret: SECRET, token_endpoint_auth_method: 'client_secret_basic' }],
    ...(accessTokenTtl !== undefined ? { accessTokenTtl } : {}),
  });
  const upstream = await startGuardedUpstream(t, async (headers) => {
    const match = /^Bearer (.+)$/.exec(headers.authorization ?? '');
    if (!match) return false;
    await server.verify(match[1]!);
    return true;
  });
  await upstream.fhir.seed([{ resourceType: 'Patient', id: PATIENT }, { resourceType: 'Patient', id: 'p-other' }, observation('obs-a', PATIENT)] as never);
  return { server, upstream };
}

/** upstream.auth for the gateway; the secret comes from UPSTREAM_SECRET. */
export function clientCredentials(server: TokenServer) {
  return { type: 'client_credentials', token_url: server.tokenUrl, client_id: 'fhir-gateway', client_secret: '${UPSTREAM_SECRET}', scope: 'system/*.rs', audience: server.resource };
}
