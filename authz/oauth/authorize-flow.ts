import type { Context } from 'koa';
import type { ClientConfig } from '../../config/types.js';
import { sharedSecret } from '../crypto/shared-secret.js';
import type { Runtime } from '../runtime.js';
import { redirectWith, redirectWithError } from './authorization-response.js';
import { hasPrompt, targetOf } from './authorize-request.js';
import { authorizationCodeTtl } from './lifetimes.js';
import { OAuthError } from './oauth-error.js';
import { bindingDigest, browserBindingOf } from './pages/browser-binding.js';
import { renderConsentPage } from './pages/consent-page.js';
import { createCsrfToken, verifyCsrfToken } from './pages/csrf.js';
import { sendErrorPage, sendPage, sendRedirect } from './pages/html-response.js';
import { renderLoginPage } from './pages/login-page.js';
import { renderPatientPickerPage, type PatientPickerPageOptions } from './pages/patient-picker-page.js';
import { OAUTH_PATHS } from './paths.js';
import { AuthorizationCodes } from './records/authorization-codes.js';
import { currentSession } from './records/browser-sessions.js';
import { Consents, consentCovers } from './records/consents.js';
import { Interactions, type Interaction } from './records/interactions.js';
import type { LaunchContextFields } from './records/launch-context.js';
import { capScopeForUser, hasScope } from './scope-narrowing.js';
import { issueUserTokens, type EhrContext } from './user-tokens.js';
import { grantSubject, sessionUser } from './users/granting-user.js';
import type { SignedInUser } from './users/users.js';

/**
 * The steps of the interactive flow that every way in shares: after a person is signed in (the
 * login form, an identity provider's callback, or a live session), the patient context is
 * settled (their own patient, the EHR launch's, or one they pick), the scope is narrowed to
 * them, consent is asked unless a remembered one covers it, and the code or token is issued.
 *
 *   sign-in ─▶ patient context ─▶ [picker] ─▶ scope ─▶ [consent page] ─▶ code / token
 *                 │ launch for another patient than the person's own: access_denied
 *                 └ prompt=none with a page still to show: interaction_required / consent_required
 */

/** One interaction being worked on in this request. */
export interface Flow {
  ctx: Context;
  runtime: Runtime;
  id: string;
  interaction: Interaction;
  client: ClientConfig;
  /** The browser-binding cookie value of this browser (the pages' CSRF tokens cover it). */
  binding: string;
}

export const EXPIRED_TITLE = 'This sign-in has expired';
export const EXPIRED_MESSAGE = 'Go back to the app and start again.';

/**
 * A form post of the flow: the browser binding and CSRF first (no store access for forged posts,
 * and a forged post cannot use up someone's interaction), then the interaction itself (taken:
 * whoever continues it must put it back). Sends the error page and returns undefined on failure.
 */
export async function takePostedInteraction(ctx: Context, runtime: Runtime, form: Record<string, string>): Promise<Flow | undefined> {
  const id = form.interaction ?? '';
  const binding = browserBindingOf(ctx.get('cookie') || undefined);
  if (binding === undefined) {
    // A cross-site post (SameSite keeps the cookie off it) or a browser that refuses cookies.
    sendErrorPage(ctx, 403, 'This form cannot be accepted', 'This browser did not send the cookie set when the sign-in started. Allow cookies for this site, go back to the app and start again.');
    return undefined;
  }
  const csrfKey = await sharedSecret(runtime.store, 'csrf');
  if (!verifyCsrfToken(csrfKey, id, binding, form.csrf)) {
    sendErrorPage(ctx, 403, 'This form has expired', 'The page was open too long or did not come from this server. Go back to the app and start again.');
    return undefined;
  }
  return resumeInteraction(ctx, runtime, id, binding);
}

/**
 * Takes interaction `id` for this browser: it must exist (once), have been started by this
 * browser, and its client must still be registered with that redirect_uri.
 */
export async function resumeInteraction(ctx: Context, runtime: Runtime, id: string, binding: string | undefined): Promise<Flow | undefined> {
  const interaction = await new Interactions(runtime.store).take(id);
  if (!interaction) {
    sendErrorPage(ctx, 400, EXPIRED_TITLE, EXPIRED_MESSAGE);
    return undefined;
  }
  if (binding === undefined || interaction.browser === undefined || interaction.browser !== bindingDigest(binding)) {
    sendErrorPage(ctx, 403, 'This sign-in cannot be continued here', 'This sign-in was started in another browser. Go back to the app and start again.');
    return undefined;
  }
  const client = runtime.clients.get(interaction.request.clientId);
  if (!client || !client.redirect_uris.includes(interaction.request.redirectUri)) {
    sendErrorPage(ctx, 400, 'Unknown application', 'The application is no longer registered with this server.');
    return undefined;
  }
  return { ctx, runtime, id, interaction, client, binding };
}

/**
 * The person who signed in to this interaction, when this browser's session is still theirs and
 * still honoured: pages after sign-in (picker, consent) must come from the browser that signed
 * in, in a session that is still live. Sends the error page and returns undefined otherwise.
 */
export async function signedInUserOf(flow: Flow): Promise<SignedInUser | undefined> {
  const { ctx, runtime, interaction } = flow;
  const session = await currentSession(runtime, ctx.get('cookie') || undefined);
  const user = session && interaction.signedIn && session.id === interaction.signedIn.sessionId ? sessionUser(runtime, session) : undefined;
  if (!user) {
    sendErrorPage(ctx, 403, EXPIRED_TITLE, 'Your sign-in could not be confirmed. Go back to the app and start again.');
    return undefined;
  }
  return user;
}

/** A posted form of a signed-in step (consent, the picker): its interaction and the person, or an error page. */
export async function takeSignedInFlow(ctx: Context, runtime: Runtime, form: Record<string, string>): Promise<{ flow: Flow; user: SignedInUser } | undefined> {
  const flow = await takePostedInteraction(ctx, runtime, form);
  if (!flow) return undefined;
  const user = await signedInUserOf(flow);
  return user ? { flow, user } : undefined;
}

/** Redirects the app's error to its redirect_uri (the flow is over). */
export function answerAppWithError(flow: Flow, error: OAuthError): void {
  sendRedirect(flow.ctx, redirectWithError(targetOf(flow.interaction.request), flow.runtime.tokens.issuer, error));
}

type PatientContext =
  | { kind: 'known'; patient?: string; label?: string }
  | { kind: 'pick' }
  /** The EHR launched the app for another patient than the person's own. */
  | { kind: 'conflict' };

/** Where the token's patient comes from: the EHR launch, the person's own, the picker, or nowhere. */
export function patientContextOf(interaction: Interaction, user: SignedInUser): PatientContext {
  const launched = interaction.launch?.patient;
  if (launched !== undefined) {
    if (user.patient !== undefined && user.patient !== launched) return { kind: 'conflict' };
    return { kind: 'known', patient: launched };
  }
  if (user.patient !== undefined) return { kind: 'known', patient: user.patient };
  if (interaction.picked !== undefined) return { kind: 'known', patient: interaction.picked.id, label: interaction.picked.label };
  // A standalone launch asking for a patient, by a person without one of their own: the picker.
  if (interaction.launch === undefined && hasScope(interaction.request.scope, 'launch/patient')) return { kind: 'pick' };
  return { kind: 'known' };
}

/** The step after sign-in or after the picker: see the module comment. */
export async function advanceSignedIn(flow: Flow, user: SignedInUser): Promise<void> {
  const { runtime, interaction, client } = flow;
  const { request } = interaction;
  const context = patientContextOf(interaction, user);
  if (context.kind === 'conflict') {
    return answerAppWithError(flow, new OAuthError('access_denied', 'The EHR launched this app for another patient than the one this person may open'));
  }
  const patientInContext = context.kind === 'pick' || context.patient !== undefined;
  let scope: string;
  try {
    scope = capScopeForUser(request.scope, user, patientInContext);
  } catch (err) {
    if (err instanceof OAuthError) return answerAppWithError(flow, err);
    throw err;
  }
  if (context.kind === 'pick') {
    if (hasPrompt(request, 'none')) return answerAppWithError(flow, new OAuthError('interaction_required', 'A patient must be chosen on the patient picker'));
    await new Interactions(runtime.store).put(flow.id, interaction);
    return showPatientPicker(flow, 200, {});
  }

  if (!hasPrompt(request, 'consent')) {
    const remembered = await new Consents(runtime.store).remembered(user.username, client.client_id);
    if (remembered && consentCovers(remembered, scope)) return issueAuthorization(flow, user, scope, context.patient, false);
  }
  if (hasPrompt(request, 'none')) return answerAppWithError(flow, new OAuthError('consent_required', 'The user has not allowed this app these scopes without being asked'));
  await new Interactions(runtime.store).put(flow.id, { ...interaction, scope });
  return showConsent(flow, user, scope, context.label ?? context.patient);
}

/**
 * The end of the flow: the code (or, implicit, the token) goes to the app. `remember`: the person
 * ticked the box, so this scope is remembered for this app (the patient never is).
 */
export async function issueAuthorization(flow: Flow, user: SignedInUser, scope: string, patient: string | undefined, remember: boolean): Promise<void> {
  const { ctx, runtime, interaction, client } = flow;
  const { request, signedIn } = interaction;
  if (!signedIn) throw new Error('issueAuthorization: nobody signed in');
  if (remember) await new Consents(runtime.store).remember(user.username, client.client_id, scope);
  const subject = grantSubject(user, patient);
  const ehrContext = ehrContextOf(interaction.launch);
  const target = targetOf(request);
  const issuer = runtime.tokens.issuer;

  if (request.responseType === 'code') {
    const code = await new AuthorizationCodes(runtime.store).issue(
      {
        clientId: client.client_id,
        redirectUri: request.redirectUri,
        ...(request.codeChallenge !== undefined ? { codeChallenge: request.codeChallenge } : {}),
        scope,
        ...subject,
        ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
        authTime: signedIn.authTime,
        ...(ehrContext !== undefined ? { ehrContext } : {}),
        issuedAtMs: Date.now(),
      },
      authorizationCodeTtl(runtime),
    );
    return sendRedirect(ctx, redirectWith(target, issuer, { code }));
  }

  // Implicit (RFC 6749 §4.2.2): the token itself, in the fragment, never a refresh token.
  const tokens = await issueUserTokens(runtime, {
    client,
    subject,
    scope,
    consentedScope: scope,
    authTime: signedIn.authTime,
    ...(ehrContext !== undefined ? { ehrContext } : {}),
  });
  sendRedirect(
    ctx,
    redirectWith(target, issuer, {
      access_token: tokens.access_token,
      token_type: tokens.token_type,
      expires_in: tokens.expires_in,
      scope: tokens.scope,
      patient: tokens.patient,
      need_patient_banner: tokens.need_patient_banner,
      encounter: tokens.encounter,
      smart_style_url: tokens.smart_style_url,
      fhirContext: tokens.fhirContext !== undefined ? JSON.stringify(tokens.fhirContext) : undefined,
    }),
  );
}

function ehrContextOf(launch: LaunchContextFields | undefined): EhrContext | undefined {
  if (launch === undefined) return undefined;
  const { patient: _patient, ...rest } = launch;
  return rest;
}

const clientName = (client: ClientConfig) => client.client_name || client.client_id;
const stylesheet = (runtime: Runtime) => runtime.publicUrl + OAUTH_PATHS.stylesheet;

async function csrfFor(flow: Flow): Promise<string> {
  return createCsrfToken(await sharedSecret(flow.runtime.store, 'csrf'), flow.id, flow.binding);
}

/** The login page: one button per identity provider, and the username form when users are configured. */
export async function showLogin(flow: Flow, status: number, error?: string, username?: string): Promise<void> {
  const { runtime, client, interaction } = flow;
  const providers = runtime.relyingParties.all();
  const body = renderLoginPage({
    clientName: clientName(client),
    csrfToken: await csrfFor(flow),
    interactionId: flow.id,
    actionUrl: runtime.publicUrl + OAUTH_PATHS.login,
    providers: providers.map((provider) => ({ id: provider.id, name: provider.name })),
    providerActionUrl: runtime.publicUrl + OAUTH_PATHS.federatedLogin,
    localForm: (runtime.config.users ?? []).length > 0,
    stylesheetHref: stylesheet(runtime),
    ...(error !== undefined ? { error } : {}),
    ...(username !== undefined ? { username } : {}),
  });
  // The login POST may end in a redirect to the client (an error, or a remembered consent), the
  // provider buttons' in one to the provider (whose issuer origin the authorization endpoint
  // shares; federated-sign-in.ts falls back to a link when it does not).
  sendPage(flow.ctx, status, body, interaction.request.redirectUri, ...providers.map((provider) => provider.issuer));
}

export async function showConsent(flow: Flow, user: SignedInUser, scope: string, patient: string | undefined): Promise<void> {
  const { runtime, client } = flow;
  const body = renderConsentPage({
    clientName: clientName(client),
    scopes: scope.split(' '),
    user: {
      username: user.displayName ?? user.username,
      ...(user.fhirUser !== undefined ? { fhirUser: user.fhirUser } : {}),
      ...(patient !== undefined ? { patient } : {}),
    },
    csrfToken: await csrfFor(flow),
    interactionId: flow.id,
    actionUrl: runtime.publicUrl + OAUTH_PATHS.consent,
    accountUrl: runtime.publicUrl + OAUTH_PATHS.account,
    stylesheetHref: stylesheet(runtime),
  });
  sendPage(flow.ctx, 200, body, flow.interaction.request.redirectUri);
}

export async function showPatientPicker(
  flow: Flow,
  status: number,
  state: Pick<PatientPickerPageOptions, 'query' | 'results' | 'error'>,
): Promise<void> {
  const { runtime, client } = flow;
  const body = renderPatientPickerPage({
    clientName: clientName(client),
    csrfToken: await csrfFor(flow),
    interactionId: flow.id,
    actionUrl: runtime.publicUrl + OAUTH_PATHS.patientPicker,
    stylesheetHref: stylesheet(runtime),
    ...state,
  });
  // Choosing may end the flow at once (a remembered consent): the redirect to the app.
  sendPage(flow.ctx, status, body, flow.interaction.request.redirectUri);
}
