import type { Context } from 'koa';
import type { RuntimeHolder } from '../../runtime.js';
import { hasPrompt } from '../authorize-request.js';
import { advanceSignedIn, answerAppWithError, EXPIRED_MESSAGE, EXPIRED_TITLE, resumeInteraction, takePostedInteraction } from '../authorize-flow.js';
import { browserBindingFor, readBrowserBinding } from '../federation/browser-binding.js';
import { federatedSignedInUser } from '../federation/federated-person.js';
import type { FederationFailure, FederationFailureKind } from '../federation/federation-failure.js';
import { completeFederatedSignIn } from '../federation/sign-in-callback.js';
import { startFederatedSignIn } from '../federation/sign-in-redirect.js';
import { OAuthError } from '../oauth-error.js';
import { browserBindingOf } from '../pages/browser-binding.js';
import { sendErrorPage, sendPage, sendRedirect } from '../pages/html-response.js';
import { renderMessagePage } from '../pages/message-page.js';
import { OAUTH_PATHS } from '../paths.js';
import { federatedSignIn, startSession } from '../records/browser-sessions.js';
import { FederatedSignIns } from '../records/federated-sign-ins.js';
import { Interactions } from '../records/interactions.js';
import { formOf } from '../steps/form-body.js';

interface FederatedSignInDeps {
  runtime: RuntimeHolder;
  log: { warn(obj: object, msg: string): void };
}

/**
 * Sign-in through an identity provider (authz/oauth/federation/), as two endpoints:
 *
 * - POST /oauth/authorize/federated: a provider's button on the login page. The interaction is
 *   checked like every form post (browser binding, CSRF) and kept for the callback; the browser
 *   gets the federation binding cookie and goes to the provider (303).
 * - GET /oauth/callback/{id}: the provider sends the browser back. A genuine sign-in starts the
 *   gateway session and the flow goes on (picker, consent) as after the login form; a person who
 *   cancelled, or whose claims do not map, sends the app `access_denied`; anything that cannot be
 *   trusted, or a provider that failed, ends on an error page with nobody signed in.
 */
export function federatedSignInEndpoints(deps: FederatedSignInDeps) {
  async function begin(ctx: Context): Promise<void> {
    const runtime = deps.runtime.get();
    const form = formOf(ctx);
    const flow = await takePostedInteraction(ctx, runtime, form);
    if (!flow) return;
    if (flow.interaction.signedIn) return sendErrorPage(ctx, 400, EXPIRED_TITLE, EXPIRED_MESSAGE);
    // Kept as it is for the callback, which resumes it; the button can also be pressed again.
    await new Interactions(runtime.store).put(flow.id, flow.interaction);

    const provider = runtime.relyingParties.get(form.provider ?? '');
    if (!provider) return sendErrorPage(ctx, 400, 'Unknown sign-in option', 'This way of signing in is not set up on this server. Go back and choose another.');
    const binding = browserBindingFor(ctx.get('cookie') || undefined, runtime.publicUrl);
    const started = await startFederatedSignIn(runtime.relyingParties, new FederatedSignIns(runtime.store), {
      providerId: provider.id,
      interactionId: flow.id,
      browserBinding: binding.value,
      forceLogin: hasPrompt(flow.interaction.request, 'login'),
    });
    if (!started.ok) {
      deps.log.warn({ provider: provider.id, kind: started.kind, reason: started.description }, 'federated sign-in could not start');
      return sendErrorPage(ctx, 502, `${provider.name} cannot be reached`, 'The sign-in service did not answer. Go back and try again in a few minutes.');
    }
    ctx.append('Set-Cookie', binding.setCookie);
    // The login page's CSP lets its forms redirect to the provider's issuer origin. A provider
    // whose authorization endpoint is elsewhere is reached by a link instead (CSP form-action
    // does not govern links).
    if (started.redirectTo.origin === new URL(provider.issuer).origin) return sendRedirect(ctx, started.redirectTo.href);
    sendPage(
      ctx,
      200,
      renderMessagePage({
        title: `Continue to ${provider.name}`,
        message: `You sign in at ${provider.name}, then come back here.`,
        link: { href: started.redirectTo.href, label: `Continue to ${provider.name}` },
        stylesheetHref: runtime.publicUrl + OAUTH_PATHS.stylesheet,
      }),
    );
  }

  async function callback(ctx: Context): Promise<void> {
    const runtime = deps.runtime.get();
    const providerId = String(ctx.params['id'] ?? '');
    const cookies = ctx.get('cookie') || undefined;
    const result = await completeFederatedSignIn(runtime.relyingParties, new FederatedSignIns(runtime.store), {
      providerId,
      query: new URLSearchParams(ctx.querystring),
      browserBinding: readBrowserBinding(cookies, runtime.publicUrl),
    });
    if (!result.ok) return failed(ctx, result);

    const flow = await resumeInteraction(ctx, runtime, result.interactionId, browserBindingOf(cookies));
    if (!flow) return;
    // A fresh session id on every sign-in, so a planted cookie can never become a signed-in one.
    const { session, setCookie } = await startSession(runtime, federatedSignIn(result.person, result.idToken));
    ctx.append('Set-Cookie', setCookie);
    const signedIn = { username: session.username, sessionId: session.id, authTime: session.authTime };
    await advanceSignedIn({ ...flow, interaction: { ...flow.interaction, signedIn } }, federatedSignedInUser(result.person));
  }

  async function failed(ctx: Context, failure: FederationFailure): Promise<void> {
    const runtime = deps.runtime.get();
    deps.log.warn({ provider: failure.providerId, kind: failure.kind, reason: failure.description }, 'federated sign-in refused');
    if (failure.outcome === 'access-denied' && failure.interactionId !== undefined) {
      const flow = await resumeInteraction(ctx, runtime, failure.interactionId, browserBindingOf(ctx.get('cookie') || undefined));
      if (!flow) return;
      const description = failure.kind === 'cancelled' ? 'The user cancelled the sign-in' : 'The user cannot be signed in to this server';
      return answerAppWithError(flow, new OAuthError('access_denied', description));
    }
    const name = (failure.providerId !== undefined ? runtime.relyingParties.get(failure.providerId)?.name : undefined) ?? 'The identity provider';
    const page = FAILURE_PAGES[failure.kind];
    sendErrorPage(ctx, page.status, page.title(name), page.message(name));
  }

  return { begin, callback };
}

interface FailurePage {
  status: number;
  title(provider: string): string;
  message(provider: string): string;
}

const NOT_VERIFIED: FailurePage = {
  status: 502,
  title: () => 'The sign-in could not be completed',
  message: (provider) => `The answer from ${provider} could not be verified, so nobody was signed in. Go back to the app and start again.`,
};

/** What the person reads when a callback ends on the error page; nobody is signed in by then. */
const FAILURE_PAGES: Readonly<Record<FederationFailureKind, FailurePage>> = {
  'unknown-provider': { status: 404, title: () => 'Unknown sign-in option', message: () => 'This sign-in came back for a provider this server does not know. Go back to the app and start again.' },
  'unknown-state': { status: 400, title: () => EXPIRED_TITLE, message: () => 'This sign-in is unknown, expired or was already completed. Go back to the app and start again.' },
  'other-browser': {
    status: 403,
    title: () => 'This sign-in cannot be completed here',
    message: () => 'It was started in another browser, or this browser did not keep its cookie. Go back to the app and start again.',
  },
  'provider-mismatch': NOT_VERIFIED,
  'invalid-response': NOT_VERIFIED,
  'code-rejected': NOT_VERIFIED,
  'provider-error': { status: 502, title: (provider) => `${provider} could not sign you in`, message: () => 'Go back to the app and try again in a few minutes.' },
  'provider-unreachable': { status: 502, title: (provider) => `${provider} cannot be reached`, message: () => 'The sign-in service did not answer in time, so nobody was signed in. Go back to the app and try again in a few minutes.' },
  // Without an interaction to answer (it expired meanwhile), only the person can be told.
  cancelled: { status: 403, title: () => 'Sign-in cancelled', message: () => 'Nobody was signed in. Go back to the app to start again.' },
  unmapped: { status: 403, title: () => 'You cannot sign in here', message: (provider) => `Your ${provider} account lacks what this server needs to know about you. Ask its administrator.` },
};
