import type { Resource } from '@medplum/fhirtypes';
import { issueAccessToken } from '../../authz/tokens/access-token.js';
import type { Stack } from './stack.js';
import { callGateway } from './upstream-gateway.js';

/** Two patients' records (plus a third, Carla) and shared reference data. */
export function twoPatientRecords(): Resource[] {
  const observation = (id: string, patient: string, code: string, category: string): Resource => ({
    resourceType: 'Observation',
    id,
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: `Patient/${patient}` },
  });
  return [
    { resourceType: 'Patient', id: 'pat-alice', name: [{ family: 'Nguyen', given: ['Alice'] }] },
    { resourceType: 'Patient', id: 'pat-bob', name: [{ family: 'Okafor', given: ['Bob'] }] },
    observation('obs-alice-hr', 'pat-alice', '8867-4', 'vital-signs'),
    observation('obs-alice-glucose', 'pat-alice', '2339-0', 'laboratory'),
    observation('obs-bob-hr', 'pat-bob', '8867-4', 'vital-signs'),
    observation('obs-bob-chol', 'pat-bob', '2093-3', 'laboratory'),
    { resourceType: 'Condition', id: 'cond-bob', subject: { reference: 'Patient/pat-bob' }, code: { text: 'Hypertension' } },
    { resourceType: 'Practitioner', id: 'dr-who', name: [{ family: 'Who' }] },
  ];
}

export interface FhirReply {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

/**
 * Calls the gateway's FHIR API with a bearer token. Uses node:http so the path goes out exactly
 * as written (fetch would normalize `%2e%2e` and similar before sending).
 */
export async function callFhir(stack: Stack, token: string, method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<FhirReply> {
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const answer = await callGateway(stack.gateway.url, method, path, {
    ...(body !== undefined ? { body } : {}),
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', ...options.headers },
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  return { status: answer.status, headers, json: answer.json, text: answer.text };
}

export async function mintToken(stack: Stack, claims: { sub: string; client_id?: string; scope: string; patient?: string; fhirUser?: string }): Promise<string> {
  const runtime = stack.gateway.runtime.get();
  return (await issueAccessToken(runtime.keys, runtime.tokens, { client_id: 'app', ...claims })).token;
}

/** Ids of the resources a Bundle answer carries. */
export function entryIds(bundle: any): string[] {
  return ((bundle?.entry ?? []) as { resource?: { resourceType: string; id: string } }[])
    .filter((e) => e.resource)
    .map((e) => `${e.resource!.resourceType}/${e.resource!.id}`)
    .sort();
}
