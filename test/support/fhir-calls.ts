import { request as httpRequest } from 'node:http';
import type { Resource } from '@medplum/fhirtypes';
import { issueAccessToken } from '../../authz/tokens/access-token.js';
import type { Stack } from './stack.js';

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
export function callFhir(stack: Stack, token: string, method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<FhirReply> {
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const target = new URL(stack.gateway.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method,
        path,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', ...options.headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
          resolve({ status: res.statusCode ?? 0, headers, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
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
