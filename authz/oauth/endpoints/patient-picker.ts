import type { Context } from 'koa';
import type { RuntimeHolder } from '../../runtime.js';
import { advanceSignedIn, patientContextOf, showPatientPicker, takeSignedInFlow } from '../authorize-flow.js';
import { patientQueryOf, type PatientDirectory } from '../patient-directory.js';
import { sendErrorPage } from '../pages/html-response.js';
import { Interactions } from '../records/interactions.js';
import { formOf } from '../steps/form-body.js';

interface PatientPickerDeps {
  runtime: RuntimeHolder;
  patients: PatientDirectory;
}

/**
 * POST /oauth/authorize/patient: the picker's two forms. `action=search` asks the FHIR server
 * (patient-directory.ts, within what the person may see) and shows the results; a `patient`
 * value is the choice, which is only believed once the gateway has read that patient upstream
 * as this person: a forged or stale value is refused and the picker shown again.
 */
export function patientPickerEndpoint(deps: PatientPickerDeps) {
  return async (ctx: Context): Promise<void> => {
    const runtime = deps.runtime.get();
    const form = formOf(ctx);
    const signedIn = await takeSignedInFlow(ctx, runtime, form);
    if (!signedIn) return;
    const { flow, user } = signedIn;
    const interactions = new Interactions(runtime.store);
    // Only an interaction waiting for a choice takes one (never a person with a patient of their own).
    if (patientContextOf(flow.interaction, user).kind !== 'pick') {
      return sendErrorPage(ctx, 400, 'No patient to choose', 'No patient can be chosen for this sign-in. Go back to the app and start again.');
    }

    if (form.action === 'search') {
      const parsed = patientQueryOf(form);
      await interactions.put(flow.id, flow.interaction);
      if (!parsed.ok) return showPatientPicker(flow, 400, { error: parsed.message });
      const found = await deps.patients.search(parsed.query, user);
      if (!found.ok) return showPatientPicker(flow, found.reason === 'not-allowed' ? 403 : 502, { query: parsed.query, error: found.message });
      return showPatientPicker(flow, 200, { query: parsed.query, results: { patients: found.patients, more: found.more } });
    }

    const chosen = form.patient ?? '';
    const read = await deps.patients.read(chosen, user);
    if (!read.ok) {
      await interactions.put(flow.id, flow.interaction);
      const status = read.reason === 'upstream' ? 502 : 403;
      return showPatientPicker(flow, status, { error: read.reason === 'upstream' ? read.message : 'That patient cannot be chosen: it was not found, or your access does not include it. Search again.' });
    }
    const label = `${read.patient.name} (${read.patient.id})`;
    await advanceSignedIn({ ...flow, interaction: { ...flow.interaction, picked: { id: read.patient.id, label } } }, user);
  };
}
