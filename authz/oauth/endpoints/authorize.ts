import type { Context } from 'koa';
import type { RuntimeHolder } from '../../runtime.js';
import { redirectWithError } from '../authorization-response.js';
import { hasPrompt, targetOf, validateAuthorizeRequest } from '../authorize-request.js';
import {
  advanceSignedIn,
  answerAppWithError,
  EXPIRED_MESSAGE,
  EXPIRED_TITLE,
  issueAuthorization,
  patientContextOf,
  showLogin,
  takeSignedInFlow,
  takePostedInteraction,
} from '../authorize-flow.js';
import { OAuthError } from '../oauth-error.js';
import { bindBrowser, bindingDigest } from '../pages/browser-binding.js';
import { sendErrorPage, sendRedirect } from '../pages/html-response.js';
import { currentSession, localSignIn, startSession } from '../records/browser-sessions.js';
import { Interactions } from '../records/interactions.js';
import { Launches, launchTtlSeconds } from '../records/launches.js';
import type { LaunchContextFields } from '../records/launch-context.js';
import { LoginThrottle } from '../records/login-throttle.js';
import { formOf } from '../steps/form-body.js';
import { sessionUser } from '../users/granting-user.js';
import { usersOf } from '../users/users.js';

interface AuthorizeEndpointDeps {
  runtime: RuntimeHolder;
  /** Replaces the growing delay after failed sign-ins (tests). */
  throttleSleep?: (ms: number) => Promise<unknown>;
}

/**
 * The interactive part of the code and implicit flows (RFC 6749 §4.1.1, §4.2.1):
 * GET /oauth/authorize validates (and redeems an EHR launch), then goes on with a live session
 * or shows the login page; POST .../login checks the password; POST .../consent issues the code
 * or token. What happens between sign-in and the code is authorize-flow.ts.
 */
export function authorizeEndpoints(deps: AuthorizeEndpointDeps) {
  const throttleOptions = deps.throttleSleep ? { sleep: deps.throttleSleep } : {};

  async function start(ctx: Context): Promise<void> {
    const runtime = deps.runtime.get();
    const validation = validateAuthorizeRequest(new URLSearchParams(ctx.querystring), runtime);
    if (!validation.ok) {
      if (validation.kind === 'page') return sendErrorPage(ctx, 400, validation.title, validation.message);
      return sendRedirect(ctx, redirectWithError(validation.target, runtime.tokens.issuer, validation.error));
    }
    const { request, client } = validation;
    const fail = (error: OAuthError) => sendRedirect(ctx, redirectWithError(targetOf(request), runtime.tokens.issuer, error));

    // SMART EHR launch: the value is used up here, whatever happens next (it has been presented).
    let launch: LaunchContextFields | undefined;
    if (validation.launch !== undefined) {
      const redeemed = await new Launches(runtime.store, launchTtlSeconds(runtime.config.tokens)).redeem(validation.launch, client.client_id);
      if (redeemed.kind === 'other-client') return fail(new OAuthError('invalid_request', 'The launch was created for another app'));
      if (redeemed.kind === 'unknown') return fail(new OAuthError('invalid_request', 'The launch is unknown, expired or already used'));
      const { clientId: _app, createdBy: _ehr, createdAt: _at, ...context } = redeemed.launch;
      launch = context;
    }

    const cookies = ctx.get('cookie') || undefined;
    // The forms this flow shows are only accepted back from this browser (login CSRF).
    const binding = bindBrowser(runtime.publicUrl, cookies);
    const browser = bindingDigest(binding.value);
    const fields = { request, browser, ...(launch !== undefined ? { launch } : {}) };

    // prompt=login: a fresh sign-in, whatever session the browser has.
    const session = hasPrompt(request, 'login') ? undefined : await currentSession(runtime, cookies);
    const user = session ? sessionUser(runtime, session) : undefined;
    if (session && user) {
      const { id, interaction } = Interactions.begin({ ...fields, signedIn: { username: session.username, sessionId: session.id, authTime: session.authTime } });
      ctx.append('Set-Cookie', binding.setCookie);
      return advanceSignedIn({ ctx, runtime, id, interaction, client, binding: binding.value }, user);
    }
    if (hasPrompt(request, 'none')) return fail(new OAuthError('login_required', 'Nobody is signed in in this browser'));
    const { id, interaction } = Interactions.begin(fields);
    await new Interactions(runtime.store).put(id, interaction);
    ctx.append('Set-Cookie', binding.setCookie);
    await showLogin({ ctx, runtime, id, interaction, client, binding: binding.value }, 200);
  }

  async function login(ctx: Context): Promise<void> {
    const runtime = deps.runtime.get();
    const form = formOf(ctx);
    const flow = await takePostedInteraction(ctx, runtime, form);
    if (!flow) return;
    const { id, interaction } = flow;
    const interactions = new Interactions(runtime.store);
    if (interaction.signedIn) return sendErrorPage(ctx, 400, EXPIRED_TITLE, EXPIRED_MESSAGE);

    const username = form.username ?? '';
    const password = form.password ?? '';
    const attempt = { username, ip: ctx.ip };
    const throttle = new LoginThrottle(runtime, throttleOptions);
    if (await throttle.isLocked(attempt)) {
      await interactions.put(id, interaction);
      return showLogin(flow, 429, 'Too many failed sign-in attempts. Try again later.', username);
    }
    const user = username === '' ? undefined : await usersOf(runtime.config).authenticate(username, password);
    if (!user) {
      await throttle.recordFailure(attempt);
      await interactions.put(id, interaction);
      return showLogin(flow, 401, 'Wrong username or password.', username);
    }
    await throttle.recordSuccess(attempt);

    // A fresh session id on every sign-in, so a planted cookie can never become a signed-in one.
    const { session, setCookie } = await startSession(runtime, localSignIn(user.username));
    ctx.append('Set-Cookie', setCookie);
    const signedIn = { username: user.username, sessionId: session.id, authTime: session.authTime };
    await advanceSignedIn({ ...flow, interaction: { ...interaction, signedIn } }, user);
  }

  async function consent(ctx: Context): Promise<void> {
    const runtime = deps.runtime.get();
    const form = formOf(ctx);
    const signedIn = await takeSignedInFlow(ctx, runtime, form);
    if (!signedIn) return;
    const { flow, user } = signedIn;
    const { scope } = flow.interaction;
    if (scope === undefined) return sendErrorPage(ctx, 400, EXPIRED_TITLE, EXPIRED_MESSAGE);
    if (form.decision === 'deny') return answerAppWithError(flow, new OAuthError('access_denied', 'The user denied access'));
    if (form.decision !== 'allow') return answerAppWithError(flow, new OAuthError('invalid_request', 'No decision was made'));
    const context = patientContextOf(flow.interaction, user);
    // The consent page was shown for a settled patient context; anything else is a stale page.
    if (context.kind !== 'known') return sendErrorPage(ctx, 400, EXPIRED_TITLE, EXPIRED_MESSAGE);
    await issueAuthorization(flow, user, scope, context.patient, form.remember === 'on');
  }

  return { start, login, consent };
}
