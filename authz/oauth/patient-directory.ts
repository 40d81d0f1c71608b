import { FHIR_ID } from '../../config/schema.js';
import { decideAccess, type AccessAllowed, type ResourceCheck } from '../smart/access-decision.js';
import { resourceCheckProblem } from '../smart/resource-check.js';
import type { ScopeClaims } from '../smart/token-claims.js';
import type { SignedInUser } from './users/users.js';

/**
 * The patient picker's view of the upstream FHIR server: searching Patients and reading one,
 * on behalf of a signed-in person and limited to what that person may see.
 *
 * Every request is first decided by the FHIR proxy's own access decision (`decideAccess`) for
 * the claims a token of this person would carry: their resource scope's user/ scopes and their
 * fhirUser. What it refuses is not sent; what it allows is sent with its instructions carried
 * out (added query parameters; a check of each returned resource, whose failures are left out).
 *
 * The requests go through `FhirReader`, the port the gateway implements with its own upstream
 * connection (gateway/oauth/upstream-fhir-reader.ts): authz/ never talks HTTP itself.
 */

/** One GET to the upstream FHIR server, relative to its base (e.g. `/Patient?name=x`). */
export interface FhirReader {
  get(pathAndQuery: string): Promise<FhirAnswer>;
}

export type FhirAnswer =
  /** The upstream answered; `body` is its JSON, or undefined when the answer was not JSON. */
  | { ok: true; status: number; body: unknown }
  /** No usable answer: unreachable, timed out, or larger than the gateway reads. */
  | { ok: false; problem: string };

/** What the picker's search form sends; at least one is needed. */
export interface PatientQuery {
  name?: string;
  /** YYYY, YYYY-MM or YYYY-MM-DD. */
  birthdate?: string;
  /** `value` or `system|value` (an MRN, a national id). */
  identifier?: string;
}

/** One patient as the picker lists it. */
export interface PatientSummary {
  /** Bare Patient id. */
  id: string;
  /** Display name, or the id when the resource has no usable name. */
  name: string;
  birthDate?: string;
  gender?: string;
  /** The first identifier's value. */
  identifier?: string;
}

export type PatientSearchResult =
  | { ok: true; patients: PatientSummary[]; more: boolean }
  | { ok: false; reason: PickerFailure; message: string };

export type PatientReadResult = { ok: true; patient: PatientSummary } | { ok: false; reason: PickerFailure | 'not-found'; message: string };

/** `not-allowed`: the access decision refused; `upstream`: the FHIR server gave no usable answer. */
export type PickerFailure = 'not-allowed' | 'upstream';

/** The most patients one search lists: the person refines the search rather than scroll. */
export const PICKER_PAGE_SIZE = 20;
const MAX_QUERY_LENGTH = 100;
const BIRTHDATE = /^\d{4}(-\d{2}(-\d{2})?)?$/;

/** The picker's form fields as a query, or why they are not one. */
export function patientQueryOf(form: Readonly<Record<string, string | undefined>>): { ok: true; query: PatientQuery } | { ok: false; message: string } {
  const query: PatientQuery = {};
  for (const field of ['name', 'birthdate', 'identifier'] as const) {
    const value = form[field]?.trim();
    if (value === undefined || value === '') continue;
    if (value.length > MAX_QUERY_LENGTH) return { ok: false, message: `The ${field} is longer than ${MAX_QUERY_LENGTH} characters.` };
    query[field] = value;
  }
  if (query.birthdate !== undefined && !BIRTHDATE.test(query.birthdate)) return { ok: false, message: 'Write the birth date as YYYY-MM-DD.' };
  if (Object.keys(query).length === 0) return { ok: false, message: 'Enter a name, a birth date or an identifier to search.' };
  return { ok: true, query };
}

export class PatientDirectory {
  constructor(private readonly reader: FhirReader) {}

  async search(query: PatientQuery, person: SignedInUser): Promise<PatientSearchResult> {
    const params = new URLSearchParams();
    if (query.name !== undefined) params.set('name', query.name);
    if (query.birthdate !== undefined) params.set('birthdate', query.birthdate);
    if (query.identifier !== undefined) params.set('identifier', query.identifier);
    params.set('_count', String(PICKER_PAGE_SIZE));
    // One claims object for the search and every listed patient's read check: the access
    // decision parses a claims object's scopes once (access-decision.ts honouredScopesOf).
    const claims = pickerClaims(person);
    const decided = decide('/Patient', params, claims);
    if (!decided.allow) return decided.refusal;
    for (const [name, value] of decided.addQuery ?? []) params.append(name, value);

    const answer = await this.reader.get(`/Patient?${params}`);
    if (!answer.ok || answer.status !== 200 || !isBundle(answer.body)) return upstreamFailure(answer);
    const patients: PatientSummary[] = [];
    for (const entry of answer.body.entry ?? []) {
      const resource = entry?.resource;
      // Only patients this person could read are listed, whatever the server sent (the search's
      // own check, and that of reading each one: a granular scope the server did not apply).
      if (!isPatient(resource) || !mayBeShown(resource, decided.checkResponse, claims)) continue;
      patients.push(summaryOf(resource));
    }
    const more = (answer.body.link ?? []).some((link) => link?.relation === 'next');
    return { ok: true, patients: patients.slice(0, PICKER_PAGE_SIZE), more };
  }

  /** The patient, when it exists upstream and this person may read it: how a chosen id is re-validated. */
  async read(id: string, person: SignedInUser): Promise<PatientReadResult> {
    if (!FHIR_ID.test(id)) return { ok: false, reason: 'not-found', message: 'That is not a patient id.' };
    const claims = pickerClaims(person);
    const decided = decide(`/Patient/${id}`, new URLSearchParams(), claims);
    if (!decided.allow) return decided.refusal;
    const query = new URLSearchParams(decided.addQuery ?? []);
    const answer = await this.reader.get(`/Patient/${id}${query.size > 0 ? `?${query}` : ''}`);
    if (answer.ok && (answer.status === 404 || answer.status === 410)) return { ok: false, reason: 'not-found', message: 'No such patient record.' };
    if (!answer.ok || answer.status !== 200) return upstreamFailure(answer);
    const resource = answer.body;
    if (!isPatient(resource) || resource.id !== id) return upstreamFailure(answer);
    if (!mayBeShown(resource, decided.checkResponse, claims)) {
      return { ok: false, reason: 'not-allowed', message: 'Your access does not include this patient record.' };
    }
    return { ok: true, patient: summaryOf(resource) };
  }
}

/** The resource passes the check its request's decision asked for, and a read of it with the person's `claims` would be allowed and pass its own. */
function mayBeShown(resource: PatientLike, check: ResourceCheck | undefined, claims: ScopeClaims): boolean {
  if (check !== undefined && resourceCheckProblem(resource, check) !== undefined) return false;
  const read = decideAccess({ method: 'GET', rawPath: `/Patient/${resource.id}`, query: new URLSearchParams(), headers: {} }, claims);
  if (!read.allow) return false;
  return read.checkResponse === undefined || resourceCheckProblem(resource, read.checkResponse) === undefined;
}

/** The claims a token of this person would carry, less anything a picker has no business with. */
export function pickerClaims(person: SignedInUser): ScopeClaims {
  const userScopes = person.scope.split(' ').filter((scope) => scope.startsWith('user/'));
  return { scope: userScopes.join(' '), ...(person.fhirUser !== undefined ? { fhirUser: person.fhirUser } : {}) };
}

type Decided = (AccessAllowed & { allow: true }) | { allow: false; refusal: { ok: false; reason: 'not-allowed'; message: string } };

function decide(rawPath: string, query: URLSearchParams, claims: ScopeClaims): Decided {
  const decision = decideAccess({ method: 'GET', rawPath, query, headers: {} }, claims);
  if (decision.allow && !decision.needsBody && decision.checkRequestBody === undefined && decision.checkCurrentResource === undefined) return decision;
  const needed = !decision.allow && decision.neededScope !== undefined ? ` (it needs ${decision.neededScope})` : '';
  return { allow: false, refusal: { ok: false, reason: 'not-allowed', message: `Your access does not include finding patient records${needed}.` } };
}

function upstreamFailure(answer: FhirAnswer): { ok: false; reason: 'upstream'; message: string } {
  const detail = answer.ok ? `it answered ${answer.status}` : answer.problem;
  return { ok: false, reason: 'upstream', message: `The FHIR server could not be searched (${detail}). Try again.` };
}

interface BundleLike {
  resourceType: 'Bundle';
  entry?: ({ resource?: unknown } | null)[];
  link?: ({ relation?: unknown } | null)[];
}

interface PatientLike {
  resourceType: 'Patient';
  id: string;
  name?: unknown;
  birthDate?: unknown;
  gender?: unknown;
  identifier?: unknown;
}

function isBundle(value: unknown): value is BundleLike {
  if (value === null || typeof value !== 'object') return false;
  const bundle = value as Record<string, unknown>;
  return bundle['resourceType'] === 'Bundle' && (bundle['entry'] === undefined || Array.isArray(bundle['entry'])) && (bundle['link'] === undefined || Array.isArray(bundle['link']));
}

function isPatient(value: unknown): value is PatientLike {
  if (value === null || typeof value !== 'object') return false;
  const resource = value as Record<string, unknown>;
  return resource['resourceType'] === 'Patient' && typeof resource['id'] === 'string' && FHIR_ID.test(resource['id']);
}

function summaryOf(patient: PatientLike): PatientSummary {
  const birthDate = typeof patient.birthDate === 'string' ? patient.birthDate : undefined;
  const gender = typeof patient.gender === 'string' ? patient.gender : undefined;
  const identifier = firstOf(patient.identifier, (item) => (typeof item['value'] === 'string' ? item['value'] : undefined));
  return {
    id: patient.id,
    name: firstOf(patient.name, displayName) ?? patient.id,
    ...(birthDate !== undefined ? { birthDate } : {}),
    ...(gender !== undefined ? { gender } : {}),
    ...(identifier !== undefined ? { identifier } : {}),
  };
}

/** HumanName.text, else given names and family. */
function displayName(name: Record<string, unknown>): string | undefined {
  if (typeof name['text'] === 'string' && name['text'].trim() !== '') return name['text'].trim();
  const given = Array.isArray(name['given']) ? name['given'].filter((part): part is string => typeof part === 'string') : [];
  const family = typeof name['family'] === 'string' ? [name['family']] : [];
  const full = [...given, ...family].join(' ').trim();
  return full === '' ? undefined : full;
}

function firstOf(list: unknown, pick: (item: Record<string, unknown>) => string | undefined): string | undefined {
  if (!Array.isArray(list)) return undefined;
  for (const item of list) {
    if (item === null || typeof item !== 'object') continue;
    const value = pick(item as Record<string, unknown>);
    if (value !== undefined) return value.slice(0, 200);
  }
  return undefined;
}
