import { parseClaimTemplate, type ClaimTemplatePart } from '../../../config/claim-templates.js';
import { FHIR_ID, FHIR_USER_REFERENCE } from '../../../config/schema.js';
import type { IdentityProviderConfig } from '../../../config/types.js';

/**
 * From a person's verified ID token claims to what the gateway needs: their SMART fhirUser, an
 * optional fixed patient, and the resource scopes they may grant. Pure: the claims have been
 * verified before they get here (sign-in-callback.ts).
 */
export type ClaimMapping =
  | { ok: true; fhirUser: string; patient?: string; resourceScope: string }
  /** The person cannot be let in: `description` names the claim, never its value. */
  | { ok: false; description: string };

type Claims = Readonly<Record<string, unknown>>;

export function mapClaims(provider: IdentityProviderConfig, claims: Claims): ClaimMapping {
  const fhirUser = fillTemplate(provider.fhir_user, claims);
  if (!fhirUser.ok) {
    return { ok: false, description: `the ID token has no usable ${fhirUser.missing} claim, which identity provider ${provider.id} needs for fhir_user` };
  }
  if (!FHIR_USER_REFERENCE.test(fhirUser.value)) {
    return { ok: false, description: `the fhir_user template of identity provider ${provider.id} does not give a FHIR reference such as Practitioner/123 for this person` };
  }

  let patient: string | undefined;
  if (provider.patient !== undefined) {
    const filled = fillTemplate(provider.patient, claims);
    // A missing claim means no fixed patient (staff and patients may share one provider); a
    // value that is there but malformed is refused: treating it as "no patient" would hand a
    // patient the practitioner's patient picker.
    if (filled.ok) {
      const id = filled.value.startsWith('Patient/') ? filled.value.slice('Patient/'.length) : filled.value;
      if (!FHIR_ID.test(id)) {
        return { ok: false, description: `the patient template of identity provider ${provider.id} does not give a Patient id for this person` };
      }
      patient = id;
    }
  }

  return { ok: true, fhirUser: fhirUser.value, ...(patient !== undefined ? { patient } : {}), resourceScope: resourceScopeOf(provider, claims) };
}

type Filled = { ok: true; value: string } | { ok: false; missing: string };

/** `{claim}` takes a non-empty string claim, or a whole non-negative number; anything else is missing. */
function fillTemplate(template: string, claims: Claims): Filled {
  // The config loader accepted the template, so it parses.
  const parts = parseClaimTemplate(template) as ClaimTemplatePart[];
  let value = '';
  for (const part of parts) {
    if ('literal' in part) {
      value += part.literal;
      continue;
    }
    const claim = Object.hasOwn(claims, part.claim) ? claims[part.claim] : undefined;
    if (typeof claim === 'string' && claim !== '') value += claim;
    else if (typeof claim === 'number' && Number.isSafeInteger(claim) && claim >= 0) value += String(claim);
    else return { ok: false, missing: part.claim };
  }
  return { ok: true, value };
}

/**
 * resource_scope, then the scopes of every resource_scope_by_claim value the person's claim
 * holds (a string or a list of strings), in the config's order, each scope once. A claim of any
 * other shape adds nothing.
 */
function resourceScopeOf(provider: IdentityProviderConfig, claims: Claims): string {
  const scopes = new Set(provider.resource_scope?.split(' ') ?? []);
  const rule = provider.resource_scope_by_claim;
  if (rule !== undefined) {
    const raw = Object.hasOwn(claims, rule.claim) ? claims[rule.claim] : undefined;
    const held = new Set(typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw.filter((v): v is string => typeof v === 'string') : []);
    for (const [value, scope] of Object.entries(rule.values)) {
      if (held.has(value)) for (const token of scope.split(' ')) scopes.add(token);
    }
  }
  return [...scopes].join(' ');
}
