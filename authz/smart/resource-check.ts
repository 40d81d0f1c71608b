import type { Resource } from '@medplum/fhirtypes';
import type { ResourceCheck } from './access-decision.js';
import { resourceInPatientCompartment } from './patient-compartment.js';
import { matchesGranularQuery } from './granular-match.js';

/** Resources that carry no patient data of their own: they describe the exchange. */
const NEUTRAL_TYPES: ReadonlySet<string> = new Set(['OperationOutcome']);

/**
 * Why a resource (or, for a Bundle, any resource inside it, recursing into nested Bundles) does
 * not satisfy the check the decision asked for; undefined when every one does. Used on
 * responses, on request bodies and on the stored resource before a write.
 */
export function resourceCheckProblem(value: unknown, check: ResourceCheck): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'the content is not a FHIR resource';
  const resource = value as Resource & Record<string, unknown>;
  if (typeof resource.resourceType !== 'string') return 'the content is not a FHIR resource';
  if (NEUTRAL_TYPES.has(resource.resourceType)) return undefined;
  if (resource.resourceType === 'Bundle') return bundleProblem(resource, check);
  const name = `${resource.resourceType}/${typeof resource.id === 'string' ? resource.id : '(no id)'}`;
  if (check.compartmentPatient !== undefined && !resourceInPatientCompartment(resource, check.compartmentPatient)) {
    return `${name} is not in Patient/${check.compartmentPatient}'s compartment`;
  }
  if (check.granularQuery !== undefined && !matchesGranularQuery(resource, check.granularQuery)) {
    return `${name} does not match the granular scope restriction ${check.granularQuery.toString()}`;
  }
  return undefined;
}

function bundleProblem(bundle: Record<string, unknown>, check: ResourceCheck): string | undefined {
  const entries = bundle['entry'] ?? [];
  if (!Array.isArray(entries)) return 'Bundle.entry is not an array';
  for (const [index, entry] of entries.entries()) {
    if (entry === null || typeof entry !== 'object') return `Bundle.entry[${index}] is not an object`;
    const resource = (entry as { resource?: unknown }).resource;
    // Entries without a resource (deleted versions in a history, minimal batch responses) show no data.
    if (resource === undefined) continue;
    const problem = resourceCheckProblem(resource, check);
    if (problem !== undefined) return `Bundle.entry[${index}]: ${problem}`;
  }
  return undefined;
}
