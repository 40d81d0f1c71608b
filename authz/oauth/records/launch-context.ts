import { FHIR_ID } from '../../../config/schema.js';

/**
 * What an EHR says about the launch it creates (SMART App Launch 2.x, "Launch context"): the
 * open patient and encounter, further context resources, whether the app must show its own
 * patient banner, and the EHR's style sheet. Validated here, at the boundary, whether the
 * fields came as a form or as JSON, so the stored record and the token response only ever hold
 * well-formed values.
 */

/** One entry of the token response's `fhirContext` (SMART 2.x: an object with a reference, optionally a role). */
export interface FhirContextItem {
  reference: string;
  /** Absolute URI saying what the resource is for (SMART 2.1 `role`). */
  role?: string;
}

export interface LaunchContextFields {
  /** Bare Patient id (`123`, not `Patient/123`), as in the token response. */
  patient?: string;
  /** Bare Encounter id. */
  encounter?: string;
  fhirContext?: FhirContextItem[];
  /** SMART `need_patient_banner`; true unless the EHR says its own banner is showing. */
  needPatientBanner: boolean;
  /** SMART `smart_style_url`. */
  smartStyleUrl?: string;
}

export type LaunchContextParse = { ok: true; context: LaunchContextFields } | { ok: false; description: string };

/** A relative literal reference `Type/id`: the only kind fhirContext entries carry here. */
const RELATIVE_REFERENCE = /^[A-Z][A-Za-z]{1,63}\/[A-Za-z0-9\-.]{1,64}$/;
/** A launch describes what is open in the EHR; a long list is a mistake or abuse, and it rides in every token response. */
const MAX_FHIR_CONTEXT_ITEMS = 20;

/**
 * The launch-context fields of a POST /oauth/launch body, from a form (every value a string;
 * `fhir_context` a JSON array) or from JSON (typed values). Keys other than these are not
 * looked at (the caller handles client_id and client authentication).
 */
export function parseLaunchContextFields(fields: Readonly<Record<string, unknown>>): LaunchContextParse {
  const context: LaunchContextFields = { needPatientBanner: true };

  for (const name of ['patient', 'encounter'] as const) {
    const value = fields[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || !FHIR_ID.test(value)) {
      const type = name === 'patient' ? 'Patient' : 'Encounter';
      const hint = typeof value === 'string' && value.startsWith(`${type}/`) ? ` (send the bare id ${JSON.stringify(value.slice(type.length + 1))}, not ${type}/...)` : '';
      return { ok: false, description: `${name} must be a bare FHIR id such as 123${hint}` };
    }
    context[name] = value;
  }

  if (fields['fhir_context'] !== undefined) {
    const parsed = parseFhirContext(fields['fhir_context']);
    if (!parsed.ok) return parsed;
    if (parsed.items.length > 0) context.fhirContext = parsed.items;
  }

  const banner = fields['need_patient_banner'];
  if (banner !== undefined) {
    if (banner === true || banner === 'true') context.needPatientBanner = true;
    else if (banner === false || banner === 'false') context.needPatientBanner = false;
    else return { ok: false, description: 'need_patient_banner must be true or false' };
  }

  const style = fields['smart_style_url'];
  if (style !== undefined) {
    if (typeof style !== 'string' || !isHttpUrl(style)) return { ok: false, description: 'smart_style_url must be an absolute http(s) URL' };
    context.smartStyleUrl = style;
  }
  return { ok: true, context };
}

function parseFhirContext(raw: unknown): { ok: true; items: FhirContextItem[] } | { ok: false; description: string } {
  const invalid = {
    ok: false as const,
    description: 'fhir_context must be a JSON array of references such as ["Encounter/123"] or [{"reference": "Encounter/123", "role": "https://..."}]',
  };
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return invalid;
    }
  }
  if (!Array.isArray(value)) return invalid;
  if (value.length > MAX_FHIR_CONTEXT_ITEMS) return { ok: false, description: `fhir_context may hold at most ${MAX_FHIR_CONTEXT_ITEMS} entries` };
  const items: FhirContextItem[] = [];
  for (const entry of value) {
    if (typeof entry === 'string' && RELATIVE_REFERENCE.test(entry)) {
      items.push({ reference: entry });
      continue;
    }
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return invalid;
    const { reference, role, ...rest } = entry as Record<string, unknown>;
    if (Object.keys(rest).length > 0 || typeof reference !== 'string' || !RELATIVE_REFERENCE.test(reference)) return invalid;
    if (role !== undefined && (typeof role !== 'string' || !isAbsoluteUri(role))) return invalid;
    items.push(role === undefined ? { reference } : { reference, role });
  }
  return { ok: true, items };
}

function isHttpUrl(value: string): boolean {
  return URL.canParse(value) && ['http:', 'https:'].includes(new URL(value).protocol);
}

function isAbsoluteUri(value: string): boolean {
  return URL.canParse(value);
}
