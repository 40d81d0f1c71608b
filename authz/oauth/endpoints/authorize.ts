import type { Context } from 'koa';
import type { ClientConfig } from '../../../config/types.js';
import { AuthorizationCodes } from '../records/authorization-codes.js';
import { redirectWith, redirectWithError } from '../authorization-response.js';
import { targetOf, validateAuthorizeRequest, type AuthorizeRequest } from '../authorize-request.js';
import { currentSession, startSession } from '../records/browser-sessions.js';
import { createCsrfToken, verifyCsrfToken } from '../pages/csrf.js';
import { formOf } from '../steps/form-body.js';
import { sendErrorPage, sendPage, sendRedirect } from '../pages/html-response.js';
import { Interactions } from '../records/interactions.js';
import { LoginThrottle } from '../records/login-throttle.js';
import { bindBrowser, bindingDigest, browserBindingOf } from '../pages/browser-binding.js';
import { OAuthError } from '../oauth-error.js';
import { OAUTH_PATHS } from '../paths.js';
import { renderConsentPage } from '../pages/consent-page.js';
import { renderLoginPage } from '../pages/login-page.js';
import type { Runtime, RuntimeHolder } from '../../runtime.js';
import { capScopeForUser } from '../scope-narrowing.js';
import { sharedSecret } from '../../crypto/shared-secret.js';
import { authorizationCodeTtl } from '../lifetimes.js';
import { issueUserTokens, tokenSubject } from '../user-tokens.js';
import { usersOf, type SignedInUser } from '../users/users.js';

interface AuthorizeEndpointDeps {
  runtime: RuntimeHolder;
  /** Replaces the growing delay after failed sign-ins (tests). */
  throttleSleep?: (ms: number) => Promise<unknown>;
}

const EXPIRED_TITLE = 'This sign-in has expired';
const EXPIRED_MESSAGE = 'Go back to the app and start again.';

/**
 * The interactive part of the code and implicit flows (RFC 6749 §4.1.1, §4.2.1):
 * GET /oauth/authorize validates and shows the login page (or consent, for a signed-in browser),
 * POST .../login checks the password, POST .../consent issues the code or token.
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
    const interactions = new Interactions(runtime.store);
    const cookies = ctx.get('cookie') || undefined;
    // The forms this flow shows are only accepted back from this browser (login CSRF).
    const binding = bindBrowser(runtime.publicUrl, cookies);
    const browser = bindingDigest(binding.value);

    const session = await currentSession(runtime, cookies);
    const user = session ? usersOf(runtime.config).find(session.username) : undefined;
    if (session && user) {
      const scope = capOrNull(request, user);
      if (scope instanceof OAuthError) return sendRedirect(ctx, redirectWithError(targetOf(request), runtime.tokens.issuer, scope));
      const signedIn = { username: user.username, sessionId: session.id, authTime: session.authTime, scope };
      const id = await interactions.create({ request, signedIn, browser });
      ctx.append('Set-Cookie', binding.setCookie);
      return showConsent(ctx, runtime, client, request, id, binding.value, user, scope);
    }
    const id = await interactions.create({ request, browser });
    ctx.append('Set-Cookie', binding.setCookie);
    await showLogin(ctx, runtime, client, request, id, binding.value, 200);
  }

  async function login(ctx: Context): Promise<void> {
    const runtime = deps.runtime.get();
    const form = formOf(ctx);
    const taken = await takeInteraction(ctx, runtime, form);
    if (!taken) return;
    const { id, interaction, client, binding } = taken;
    const request = interaction.request;
    const interactions = new Interactions(runtime.store);
    if (interaction.signedIn) return sendErrorPage(ctx, 400, EXPIRED_TITLE, EXPIRED_MESSAGE);

    const username = form.username ?? '';
    const password = form.password ?? '';
    const attempt = { username, ip: ctx.ip };
    const throttle = new LoginThrottle(runtime, throttleOptions);
    if (await throttle.isLocked(attempt)) {
      await interactions.put(id, interaction);
      return showLogin(ctx, runtime, client, request, id, binding, 429, 'Too many failed sign-in attempts. Try again later.', username);
    }
    const user = username === '' ? undefined : await usersOf(runtime.config).authenticate(username, password);
    if (!user) {
      await throttle.recordFailure(attempt);
      await interactions.put(id, interaction);
      return showLogin(ctx, runtime, client, request, id, binding, 401, 'Wrong username or password.', username);
    }
    await throttle.recordSuccess(attempt);

    const scope = capOrNull(request, user);
    if (scope instanceof OAuthError) return sendRedirect(ctx, redirectWithError(targetOf(request), runtime.tokens.issuer, scope));
    // A fresh session id on every sign-in, so a planted cookie can never become a signed-in one.
    const { session, setCookie } = await startSession(runtime, user.username);
    await interactions.put(id, { ...interaction, signedIn: { username: user.username, sessionId: session.id, authTime: session.authTime, scope } });
    ctx.append('Set-Cookie', setCookie);
    showConsent(ctx, runtime, client, request, id, binding, user, scope);
  }

  async function consent(ctx: Context): Promise<void> {
    const runtime = deps.runtime.get();
    const form = formOf(ctx);
    const taken = await takeInteraction(ctx, runtime, form);
    if (!taken) return;
    const { interaction, client } = taken;
    const { request, signedIn } = interaction;
    // The consent must come from the browser that signed in, in a session that is still live.
    const session = await currentSession(runtime, ctx.get('cookie') || undefined);
    if (!signedIn || !session || session.id !== signedIn.sessionId) {
      return sendErrorPage(ctx, 403, EXPIRED_TITLE, 'Your sign-in could not be confirmed. Go back to the app and start again.');
    }
    const target = targetOf(request);
    const issuer = runtime.tokens.issuer;
    if (form.decision === 'deny') {
      return sendRedirect(ctx, redirectWithError(target, issuer, new OAuthError('access_denied', 'The user denied access')));
    }
    if (form.decision !== 'allow') {
      return sendRedirect(ctx, redirectWithError(target, issuer, new OAuthError('invalid_request', 'No decision was made')));
    }
    const user = usersOf(runtime.config).find(signedIn.username);
    if (!user) return sendErrorPage(ctx, 403, EXPIRED_TITLE, EXPIRED_MESSAGE);

    if (request.responseType === 'code') {
      const code = await new AuthorizationCodes(runtime.store).issue(
        {
          clientId: client.client_id,
          redirectUri: request.redirectUri,
          ...(request.codeChallenge !== undefined ? { codeChallenge: request.codeChallenge } : {}),
          scope: signedIn.scope,
          ...tokenSubject(user),
          ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
          authTime: signedIn.authTime,
        },
        authorizationCodeTtl(runtime),
      );
      return sendRedirect(ctx, redirectWith(target, issuer, { code }));
    }

    // Implicit (RFC 6749 §4.2.2): the token itself, in the fragment, never a refresh token.
    const tokens = await issueUserTokens(runtime, { client, subject: user, scope: signedIn.scope, consentedScope: signedIn.scope, authTime: signedIn.authTime });
    sendRedirect(
      ctx,
      redirectWith(target, issuer, {
        access_token: tokens.access_token,
        token_type: tokens.token_type,
        expires_in: tokens.expires_in,
        scope: tokens.scope,
        patient: tokens.patient,
        need_patient_banner: tokens.need_patient_banner,
      }),
    );
  }

  /**
   * The browser binding and CSRF first (no store access for forged posts, and a forged post
   * cannot use up someone's interaction), then the interaction itself, which must have been
   * started by this browser, then its client as the current config has it.
   */
  async function takeInteraction(ctx: Context, runtime: Runtime, form: Record<string, string>) {
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
    const interaction = await new Interactions(runtime.store).take(id);
    if (!interaction) {
      sendErrorPage(ctx, 400, EXPIRED_TITLE, EXPIRED_MESSAGE);
      return undefined;
    }
    if (interaction.browser === undefined || interaction.browser !== bindingDigest(binding)) {
      sendErrorPage(ctx, 403, 'This form cannot be accepted', 'This sign-in was started in another browser. Go back to the app and start again.');
      return undefined;
    }
    const client = runtime.clients.get(interaction.request.clientId);
    if (!client || !client.redirect_uris.includes(interaction.request.redirectUri)) {
      sendErrorPage(ctx, 400, 'Unknown application', 'The application is no longer registered with this server.');
      return undefined;
    }
    return { id, interaction, client, binding };
  }

  return { start, login, consent };
}

function capOrNull(request: AuthorizeRequest, user: SignedInUser): string | OAuthError {
  try {
    return capScopeForUser(request.scope, user);
  } catch (err) {
    if (err instanceof OAuthError) return err;
    throw err;
  }
}

const clientName = (client: ClientConfig) => client.client_name || client.client_id;
const stylesheet = (runtime: Runtime) => runtime.publicUrl + OAUTH_PATHS.stylesheet;

async function showLogin(
  ctx: Context,
  runtime: Runtime,
  client: ClientConfig,
  request: AuthorizeRequest,
  interactionId: string,
  browserBinding: string,
  status: number,
  error?: string,
  username?: string,
): Promise<void> {
  const csrfToken = createCsrfToken(await sharedSecret(runtime.store, 'csrf'), interactionId, browserBinding);
  const body = renderLoginPage({
    clientName: clientName(client),
    csrfToken,
    interactionId,
    actionUrl: runtime.publicUrl + OAUTH_PATHS.login,
    stylesheetHref: stylesheet(runtime),
    ...(error !== undefined ? { error } : {}),
    ...(username !== undefined ? { username } : {}),
  });
  // The login POST may end in a redirect to the client (e.g. a scope this user cannot grant).
  sendPage(ctx, status, body, request.redirectUri);
}

async function showConsent(
  ctx: Context,
  runtime: Runtime,
  client: ClientConfig,
  request: AuthorizeRequest,
  interactionId: string,
  browserBinding: string,
  user: SignedInUser,
  scope: string,
): Promise<void> {
  const csrfToken = createCsrfToken(await sharedSecret(runtime.store, 'csrf'), interactionId, browserBinding);
  const body = renderConsentPage({
    clientName: clientName(client),
    scopes: scope.split(' '),
    user: tokenSubject(user),
    csrfToken,
    interactionId,
    actionUrl: runtime.publicUrl + OAUTH_PATHS.consent,
    stylesheetHref: stylesheet(runtime),
  });
  sendPage(ctx, 200, body, request.redirectUri);
}

