import type { PatientQuery, PatientSummary } from '../patient-directory.js';
import { html, renderLayout, type PageChrome, type SafeHtml } from './layout.js';

export interface PatientPickerPageOptions extends PageChrome {
  /** client_name, or client_id when the client has none. */
  clientName: string;
  csrfToken: string;
  interactionId: string;
  /** Where both forms (search, choose) post. */
  actionUrl: string;
  /** What was searched for, kept in the fields. */
  query?: PatientQuery;
  /** The search's results; absent before the first search. */
  results?: { patients: readonly PatientSummary[]; more: boolean };
  /** Shown above the forms (a refused search, a patient that cannot be chosen). */
  error?: string;
}

/**
 * The patient picker (SMART "standalone launch" with launch/patient, for a person without a
 * patient of their own): a search form answered by the FHIR server, then a list of patients as
 * radio buttons (`name="patient"`), one chosen and sent on. Plain forms, no script.
 */
export function renderPatientPickerPage(options: PatientPickerPageOptions): string {
  const query = options.query ?? {};
  const hasError = options.error !== undefined && options.error !== '';
  const content = html`<h1 class="title">Choose a patient</h1>
<p class="subtitle"><strong class="app-name">${options.clientName}</strong> opens one patient’s record. Find the patient:</p>
${hasError && html`<div class="alert" id="picker-error" role="alert">${options.error}</div>`}
<form class="form" method="post" action="${options.actionUrl}" role="search" aria-label="Find a patient">
<input type="hidden" name="csrf" value="${options.csrfToken}">
<input type="hidden" name="interaction" value="${options.interactionId}">
<input type="hidden" name="action" value="search">
<div class="field">
<label class="label" for="name">Name</label>
<input class="input" id="name" name="name" type="text" value="${query.name ?? ''}" autocomplete="off" spellcheck="false"${options.results === undefined ? html` autofocus` : html``}>
</div>
<div class="field">
<label class="label" for="birthdate">Birth date</label>
<input class="input" id="birthdate" name="birthdate" type="date" value="${query.birthdate ?? ''}">
</div>
<div class="field">
<label class="label" for="identifier">Identifier <span class="label-hint">(medical record number)</span></label>
<input class="input" id="identifier" name="identifier" type="text" value="${query.identifier ?? ''}" autocomplete="off" spellcheck="false">
</div>
<button class="button button-secondary button-block" type="submit">Search</button>
</form>
${options.results !== undefined && renderResults(options, options.results)}`;

  return renderLayout({ gatewayName: options.gatewayName, stylesheetHref: options.stylesheetHref, title: 'Choose a patient', content });
}

function renderResults(options: PatientPickerPageOptions, results: { patients: readonly PatientSummary[]; more: boolean }): SafeHtml {
  if (results.patients.length === 0) return html`<p class="message results-empty" role="status">No patient found. Check the spelling, or search by birth date or identifier.</p>`;
  const count = results.patients.length === 1 ? '1 patient found' : `${results.patients.length} patients found`;
  return html`<form class="form results" method="post" action="${options.actionUrl}">
<input type="hidden" name="csrf" value="${options.csrfToken}">
<input type="hidden" name="interaction" value="${options.interactionId}">
<fieldset class="patients">
<legend class="label">${count}${results.more ? ' (only the first ones are shown: narrow the search)' : ''}</legend>
${results.patients.map(
  (patient, index) => html`<div class="patient">
<input class="patient-input" id="patient-${index}" name="patient" type="radio" value="${patient.id}" required${index === 0 ? html` autofocus` : html``}>
<label class="patient-label" for="patient-${index}"><span class="patient-name">${patient.name}</span><span class="patient-detail">${detailOf(patient)}</span></label>
</div>
`,
)}</fieldset>
<button class="button button-primary button-block" type="submit">Continue with this patient</button>
</form>`;
}

function detailOf(patient: PatientSummary): string {
  return [
    patient.birthDate !== undefined ? `born ${patient.birthDate}` : undefined,
    patient.gender,
    patient.identifier !== undefined ? `identifier ${patient.identifier}` : undefined,
    `id ${patient.id}`,
  ]
    .filter((part): part is string => part !== undefined)
    .join(' · ');
}
