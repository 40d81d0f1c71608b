import t from 'tap';
import { DR_KIM } from '../../support/federation-fixtures.js';
import {
  appRedirect,
  authorizeRequest,
  fhirGet,
  NARROW_PRACTITIONER,
  PATIENT_USER,
  PRACTITIONER,
  redeem,
  startIdentityStack,
  textOf,
  type IdentityStack,
  type Page,
  type PageBrowser,
} from '../../support/identity-stack.js';

/**
 * The patient picker through the CLI-started gateway: a practitioner (no patient of their own)
 * authorizes an app asking for launch/patient in a standalone launch, searches the FHIR server
 * (by name, birth date, identifier) within what their own scope lets them see, picks a patient,
 * and the token is confined to it. The choice is re-read upstream: forged values are refused.
 * People with a patient of their own never see the picker.
 */

const PICKER_SCOPE = 'launch/patient openid fhirUser patient/*.rs offline_access';
const OBSERVER = { username: 'dr-obs', password: NARROW_PRACTITIONER.password };

async function toPicker(stack: IdentityStack, user: { username: string; password: string }, params: Record<string, string> = {}) {
  const browser = stack.browser();
  const request = await authorizeRequest(await stack.app(), stack.base, { scope: PICKER_SCOPE, ...params });
  const login = await browser.open(request.url);
  const picker = await browser.submit(login, '/oauth/authorize/login', { username: user.username, password: user.password });
  return { browser, request, login, picker };
}

const search = (browser: PageBrowser, page: Page, fields: Record<string, string>) => browser.submit(page, '/oauth/authorize/patient', fields);
/** The results form (the second form posting to the picker). */
function choose(browser: PageBrowser, page: Page, patient: string) {
  const results = page.forms.filter((form) => form.action.endsWith('/oauth/authorize/patient')).at(-1)!;
  return browser.post(results.action, { csrf: results.hidden['csrf']!, interaction: results.hidden['interaction']!, patient });
}
const listed = (page: Page) => page.forms.flatMap((form) => form.radios['patient'] ?? []);

t.test('patient picker', async (t) => {
  const stack = await startIdentityStack(t, {
    idp: { accounts: { 'dr-kim': { ...DR_KIM, fhirUser: 'Practitioner/E-1001' }, carla: { name: 'Carla Rossi', fhirUser: 'Patient/pat-carla', patient_id: 'pat-carla' } } },
    idpEntry: { fhir_user: '{fhirUser}', patient: '{patient_id}', resource_scope: 'patient/*.rs', resource_scope_by_claim: { claim: 'groups', values: { clinicians: 'user/*.rs patient/*.rs' } } },
    edit: (raw) => raw.users.push({ ...raw.users[2], username: OBSERVER.username, scope: 'user/Observation.rs patient/*.rs' }),
  });
  const app = await stack.app();

  t.test('a practitioner searches, picks, and gets a token confined to that patient', async (t) => {
    stack.takeReceived();
    const { browser, request, login, picker } = await toPicker(stack, PRACTITIONER);
    t.match(textOf(login.html), /Sign in with Hospital SSO.*or sign in with a username.*Username.*Password/, 'provider buttons above the local form');
    t.equal(picker.status, 200);
    t.match(textOf(picker.html), /Choose a patient/);
    t.same(listed(picker), [], 'no list before a search');
    t.equal(stack.takeReceived().length, 0, 'nothing asked of the FHIR server yet');

    const byName = await search(browser, picker, { name: 'Okafor' });
    t.equal(byName.status, 200);
    t.same(listed(byName), ['pat-bob']);
    t.match(textOf(byName.html), /Bob Okafor born 1979-11-02 · male · identifier MRN-1002 · id pat-bob/);
    const sent = stack.takeReceived();
    t.equal(sent.length, 1);
    t.equal(sent[0]!.method, 'GET');
    t.equal(decodeURIComponent(sent[0]!.url), '/fhir/Patient?name=Okafor&_count=20', 'the search, through the gateway’s upstream connection');

    t.same(listed(await search(browser, byName, { birthdate: '1984-03-12' })), ['pat-alice'], 'by birth date');
    t.same(listed(await search(browser, byName, { identifier: 'MRN-1003' })), ['pat-carla'], 'by identifier');
    const nothing = await search(browser, byName, { name: 'Nobody' });
    t.same(listed(nothing), []);
    t.match(textOf(nothing.html), /No patient found/);
    const empty = await search(browser, byName, {});
    t.equal(empty.status, 400);
    t.match(textOf(empty.html), /Enter a name, a birth date or an identifier/);
    const badDate = await search(browser, byName, { birthdate: '12/03/1984' });
    t.equal(badDate.status, 400, 'a birth date that is not YYYY-MM-DD');

    const found = await search(browser, byName, { name: 'Okafor' });
    stack.takeReceived();
    const consent = await choose(browser, found, 'pat-bob');
    t.equal(consent.status, 200);
    t.match(textOf(consent.html), /Patient record Bob Okafor \(pat-bob\)/, 'the consent page names the chosen patient');
    t.same(stack.takeReceived().map((r) => r.url), ['/fhir/Patient/pat-bob'], 'the choice was re-read upstream');
    const allowed = await browser.submit(consent, '/oauth/authorize/consent', { decision: 'allow', remember: 'on' });
    const tokens = await redeem(app, allowed.location!, request);
    t.equal(tokens.patient, 'pat-bob');
    t.equal(tokens.need_patient_banner, true);
    t.equal((await fhirGet(stack.base, tokens.access_token, '/Patient/pat-bob')).status, 200);
    t.equal((await fhirGet(stack.base, tokens.access_token, '/Patient/pat-alice')).status, 403, 'confined to the chosen patient');

    t.test('the choice is never remembered: the next authorization shows the picker again', async (t) => {
      const next = await authorizeRequest(app, stack.base, { scope: PICKER_SCOPE });
      const again = await browser.open(next.url);
      t.equal(again.status, 200);
      t.match(textOf(again.html), /Choose a patient/);
      const skipped = await choose(browser, await search(browser, again, { name: 'Rossi' }), 'pat-carla');
      t.equal(skipped.status, 303, 'the remembered consent skips the consent page after the choice');
      t.equal((await redeem(app, skipped.location!, next)).patient, 'pat-carla');
    });

    t.test('prompt=none when the picker would be needed: interaction_required', async (t) => {
      const silent = await authorizeRequest(app, stack.base, { scope: PICKER_SCOPE, prompt: 'none' });
      const answer = await browser.open(silent.url);
      t.equal(answer.status, 302);
      t.equal(appRedirect(answer.location).get('error'), 'interaction_required');
    });
  });

  t.test('a forged or stale choice is refused, and the picker still works', async (t) => {
    const { browser, request, picker } = await toPicker(stack, PRACTITIONER);
    const found = await search(browser, picker, { name: 'Nguyen' });
    for (const forged of ['pat-nobody', 'pat bob', '../Patient/pat-bob', '']) {
      const refused = await choose(browser, found, forged);
      t.equal(refused.status, 403, `patient=${JSON.stringify(forged)}`);
      t.match(textOf(refused.html), /That patient cannot be chosen/);
      t.match(textOf(refused.html), /Choose a patient/, 'the picker again, not an error page');
    }
    // dr-bob's consent to this app is remembered (the first test): the valid choice ends the flow.
    const landed = await choose(browser, found, 'pat-alice');
    t.equal(landed.status, 303);
    t.equal((await redeem(app, landed.location!, request)).patient, 'pat-alice');
  });

  t.test('the picker sees only what the person’s scope allows', async (t) => {
    stack.takeReceived();
    const nora = await toPicker(stack, NARROW_PRACTITIONER);
    const okafor = await search(nora.browser, nora.picker, { name: 'Okafor' });
    t.same(listed(okafor), [], 'user/Patient.rs?gender=female: a male patient is not listed');
    t.match(decodeURIComponent(stack.takeReceived()[0]!.url), /gender=female/, 'the granular restriction went into the search');
    const women = await search(nora.browser, okafor, { birthdate: '1992-07-25' });
    t.same(listed(women), ['pat-carla']);
    const forged = await choose(nora.browser, women, 'pat-bob');
    t.equal(forged.status, 403, 'a patient outside the scope cannot be forced through the form');
    const consent = await choose(nora.browser, forged, 'pat-carla');
    t.equal(consent.status, 200, 'one inside it can');

    stack.takeReceived();
    const observer = await toPicker(stack, OBSERVER);
    const refused = await search(observer.browser, observer.picker, { name: 'Okafor' });
    t.equal(refused.status, 403, 'no Patient search in the person’s scope');
    t.match(textOf(refused.html), /Your access does not include finding patient records \(it needs user\/Patient\.s\)/);
    t.equal(stack.takeReceived().length, 0, 'and nothing was sent upstream');
  });

  t.test('people with a patient of their own never see the picker', async (t) => {
    const { picker } = await toPicker(stack, PATIENT_USER);
    t.match(textOf(picker.html), /Allow access\?.*Patient record pat-alice/, 'the consent page straight away');

    const browser = stack.browser();
    const request = await authorizeRequest(app, stack.base, { scope: PICKER_SCOPE });
    const login = await browser.open(request.url);
    const pressed = await browser.submit(login, '/oauth/authorize/federated', { provider: 'hospital-sso' });
    const consent = await browser.open(await stack.idp!.signIn(pressed.location!, 'carla'));
    t.match(textOf(consent.html), /Allow access\?.*Patient record pat-carla/, 'a federated patient (patient template) neither');
    const allowed = await browser.submit(consent, '/oauth/authorize/consent', { decision: 'allow' });
    t.equal((await redeem(app, allowed.location!, request)).patient, 'pat-carla');
  });

  t.test('a federated practitioner (no patient claim) gets the picker', async (t) => {
    const browser = stack.browser();
    const request = await authorizeRequest(app, stack.base, { scope: PICKER_SCOPE });
    const login = await browser.open(request.url);
    const pressed = await browser.submit(login, '/oauth/authorize/federated', { provider: 'hospital-sso' });
    const picker = await browser.open(await stack.idp!.signIn(pressed.location!, 'dr-kim'));
    t.match(textOf(picker.html), /Choose a patient/);
    const consent = await choose(browser, await search(browser, picker, { identifier: 'MRN-1002' }), 'pat-bob');
    const allowed = await browser.submit(consent, '/oauth/authorize/consent', { decision: 'allow' });
    const tokens = await redeem(app, allowed.location!, request);
    t.equal(tokens.patient, 'pat-bob');
    t.equal((await fhirGet(stack.base, tokens.access_token, '/Observation')).body.entry.length, 1, 'only the chosen patient’s observations');
  });
});
