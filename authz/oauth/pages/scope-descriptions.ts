/**
 * Plain-language descriptions of SMART scopes for the consent page, so a patient or clinician
 * can tell what they are agreeing to without knowing FHIR. Covers SMART v1 (`.read`, `.write`,
 * `.*`) and v2 (`.cruds` subsets, granular `?param=value` filters), the patient/user/system
 * contexts, wildcard resources, launch context and identity scopes.
 */

export interface ScopeDescription {
  /** The requested scopes this line stands for (several can share one description). */
  scopes: string[];
  text: string;
  /** A refinement, e.g. the filter of a granular scope. */
  detail?: string;
}

interface ResourceWording {
  /** Plural noun for records of this type in general. */
  noun: string;
  /** Noun after "your", when it reads better than `noun` (Patient -> "your personal details"). */
  ownNoun?: string;
  examples?: string;
}

const RESOURCE_WORDING: Record<string, ResourceWording> = {
  Patient: { noun: 'patient records', ownNoun: 'personal details', examples: 'name, date of birth, contact details' },
  Observation: { noun: 'observations', examples: 'lab results, vital signs…' },
  Condition: { noun: 'conditions', examples: 'diagnoses, health problems' },
  AllergyIntolerance: { noun: 'allergies and intolerances' },
  MedicationRequest: { noun: 'prescriptions', examples: 'medications ordered for you' },
  MedicationStatement: { noun: 'medication lists' },
  MedicationDispense: { noun: 'dispensed medications' },
  MedicationAdministration: { noun: 'medication administrations' },
  Medication: { noun: 'medication details' },
  Immunization: { noun: 'immunizations', examples: 'vaccines' },
  Procedure: { noun: 'procedures', examples: 'surgeries, treatments' },
  DiagnosticReport: { noun: 'diagnostic reports', examples: 'lab and imaging reports' },
  DocumentReference: { noun: 'documents', examples: 'clinical notes, letters, scans' },
  Encounter: { noun: 'visits', examples: 'appointments, hospital stays' },
  Appointment: { noun: 'appointments' },
  CarePlan: { noun: 'care plans' },
  CareTeam: { noun: 'care teams' },
  Goal: { noun: 'health goals' },
  Coverage: { noun: 'insurance coverage' },
  ExplanationOfBenefit: { noun: 'insurance claims' },
  FamilyMemberHistory: { noun: 'family health history' },
  Device: { noun: 'medical devices' },
  ServiceRequest: { noun: 'orders and referrals' },
  QuestionnaireResponse: { noun: 'questionnaire answers' },
  Practitioner: { noun: 'clinician details' },
  PractitionerRole: { noun: 'clinician roles' },
  Organization: { noun: 'organization details' },
  Location: { noun: 'locations' },
  RelatedPerson: { noun: 'related people', examples: 'family members, caregivers' },
  Provenance: { noun: 'record history', examples: 'who created or changed a record' },
};

const ALL_RESOURCES: ResourceWording = { noun: 'health records', examples: 'all types' };

type Action = 'read' | 'search' | 'create' | 'update' | 'delete';
/** The order actions are listed in, reading before changing. */
const ACTION_ORDER: readonly Action[] = ['read', 'search', 'create', 'update', 'delete'];
const V2_ACTIONS: Record<string, Action> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };
const V1_ACTIONS: Record<string, Action[]> = {
  read: ['read', 'search'],
  write: ['create', 'update', 'delete'],
  '*': [...ACTION_ORDER],
};

const RESOURCE_SCOPE = /^(patient|user|system)\/([A-Z][A-Za-z]*|\*)\.(read|write|\*|c?r?u?d?s?)(?:\?(.+))?$/;
const IDENTITY_SCOPES = new Set(['openid', 'fhirUser', 'profile']);

const FIXED_SCOPES: Record<string, string> = {
  launch: 'Open with the record you are working on in your health record system',
  'launch/patient': 'Know which patient record is open',
  'launch/encounter': 'Know which visit (encounter) is open',
  offline_access: 'Stay signed in when you are not using the app',
  online_access: 'Stay signed in while you are using the app',
};

const IDENTITY_TEXT = 'Know who you are';

/** Descriptions in order of first appearance; scopes that mean the same are shown once. */
export function describeScopes(scopes: readonly string[]): ScopeDescription[] {
  const byKey = new Map<string, ScopeDescription>();
  for (const scope of scopes) {
    if (scope === '') continue;
    const { text, detail } = describeScope(scope);
    const key = `${text}\n${detail ?? ''}`;
    const existing = byKey.get(key);
    if (existing) {
      if (!existing.scopes.includes(scope)) existing.scopes.push(scope);
    } else {
      byKey.set(key, detail === undefined ? { scopes: [scope], text } : { scopes: [scope], text, detail });
    }
  }
  return [...byKey.values()];
}

export function describeScope(scope: string): { text: string; detail?: string } {
  if (IDENTITY_SCOPES.has(scope)) return { text: IDENTITY_TEXT };
  const fixed = FIXED_SCOPES[scope];
  if (fixed !== undefined) return { text: fixed };
  if (scope.startsWith('launch/')) return { text: `Know which ${splitWords(scope.slice('launch/'.length))} is open` };

  const match = RESOURCE_SCOPE.exec(scope);
  if (!match) return { text: `Use the permission “${scope}”` };
  const [, context, resourceType, permissions, query] = match as unknown as [string, Context, string, string, string | undefined];
  const actions = parseActions(permissions);
  if (actions.length === 0) return { text: `Use the permission “${scope}”` };

  const text = `${capitalize(listInWords(actions))} ${describeRecords(context, resourceType)}`;
  const detail = query === undefined ? undefined : describeFilter(query);
  return detail === undefined ? { text } : { text, detail };
}

type Context = 'patient' | 'user' | 'system';

function parseActions(permissions: string): Action[] {
  const v1 = V1_ACTIONS[permissions];
  const actions = v1 ?? [...permissions].map((letter) => V2_ACTIONS[letter]!);
  return ACTION_ORDER.filter((action) => actions.includes(action));
}

function describeRecords(context: Context, resourceType: string): string {
  const wording = resourceType === '*' ? ALL_RESOURCES : (RESOURCE_WORDING[resourceType] ?? { noun: `${splitWords(resourceType)} records` });
  const examples = wording.examples ? ` (${wording.examples})` : '';
  switch (context) {
    case 'patient':
      return `your ${wording.ownNoun ?? wording.noun}${examples}`;
    case 'user':
      return `${wording.noun} you have access to${examples}`;
    case 'system':
      return `all ${wording.noun}${examples}, for any patient`;
  }
}

/** `category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory` -> "Only where category is laboratory". */
function describeFilter(query: string): string {
  const conditions = [...new URLSearchParams(query)].map(([name, value]) => {
    const alternatives = value.split(',').map(codeOf).filter((code) => code !== '');
    return `${splitWords(name.replace(/:.*$/, ''))} is ${listInWords(alternatives, 'or')}`;
  });
  return `Only where ${listInWords(conditions)}`;
}

/** The code of a `system|code` token; the system URL means nothing to the reader. */
function codeOf(token: string): string {
  const bar = token.lastIndexOf('|');
  return bar === -1 ? token : token.slice(bar + 1);
}

function listInWords(items: readonly string[], conjunction = 'and'): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} ${conjunction} ${items[items.length - 1]}`;
}

/** "MedicationKnowledge" -> "medication knowledge", "code-system" -> "code system". */
function splitWords(identifier: string): string {
  return identifier
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[-_]+/g, ' ')
    .toLowerCase();
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
