/**
 * The grammar of claim templates (`identity_providers[].fhir_user`, `.patient`): literal text
 * with `{claim}` placeholders, e.g. `Practitioner/{employee_id}` or `{fhirUser}`. Parsed here,
 * once, for both the config rules (config/schema.ts) and the federation mapping
 * (authz/oauth/federation/claim-mapping.ts), so the two can never disagree on what a template is.
 *
 * A claim name is anything but braces (namespaced claims such as
 * `{https://example.org/claims/employee_id}` are common at Auth0 and Okta); literal braces
 * cannot be written, since no FHIR reference contains one.
 */

export type ClaimTemplatePart = { literal: string } | { claim: string };

const PLACEHOLDER = /\{([^{}]+)\}/g;

/** The parts of a template, or undefined when it has a stray or empty brace, or no placeholder at all. */
export function parseClaimTemplate(template: string): ClaimTemplatePart[] | undefined {
  const parts: ClaimTemplatePart[] = [];
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    if (match.index > last) parts.push({ literal: template.slice(last, match.index) });
    parts.push({ claim: match[1]! });
    last = match.index + match[0].length;
  }
  if (last < template.length) parts.push({ literal: template.slice(last) });
  const literalsClean = parts.every((part) => !('literal' in part) || !/[{}]/.test(part.literal));
  const hasClaim = parts.some((part) => 'claim' in part);
  return literalsClean && hasClaim ? parts : undefined;
}

/** The template with every placeholder replaced by `sample`: what config rules check the shape of. */
export function sampleClaimTemplate(parts: readonly ClaimTemplatePart[], sample: string): string {
  return parts.map((part) => ('literal' in part ? part.literal : sample)).join('');
}
