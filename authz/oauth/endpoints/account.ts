import type { Context } from 'koa';
import { sharedSecret } from '../../crypto/shared-secret.js';
import type { Runtime, RuntimeHolder } from '../../runtime.js';
import { tokenFamilies } from '../lifetimes.js';
import { renderAccountPage, type GrantedApp } from '../pages/account-page.js';
import { bindBrowser, browserBindingOf } from '../pages/browser-binding.js';
import { createCsrfToken, verifyCsrfToken } from '../pages/csrf.js';
import { sendErrorPage, sendPage, sendRedirect } from '../pages/html-response.js';
import { renderMessagePage } from '../pages/message-page.js';
import { OAUTH_PATHS } from '../paths.js';
import { currentSession, type BrowserSession } from '../records/browser-sessions.js';
import { Consents, type AppConsent } from '../records/consents.js';
import { formOf } from '../steps/form-body.js';
import { sessionUser } from '../users/granting-user.js';
import type { SignedInUser } from '../users/users.js';

interface AccountDeps {
  runtime: RuntimeHolder;
}

/** What the account page's CSRF tokens are bound to, besides the browser: this session (never an interaction id). */
const csrfSubject = (session: BrowserSession) => `account\n${session.id}`;
const WITHDRAWN_NOTICE = 'withdrawn';

/**
 * GET /oauth/account: the apps the signed-in person has granted (remembered consents, live
 * refresh tokens), each with a withdraw button. POST /oauth/account/withdraw: withdraws one app
 * (the remembered consent goes and every refresh-token family of the app for this person is
 * revoked, access tokens included), then back to the page (303). The form is bound to the
 * browser and the session like the sign-in forms (CSRF token over the browser-binding cookie).
 */
export function accountEndpoints(deps: AccountDeps) {
  async function page(ctx: Context): Promise<void> {
    const runtime = deps.runtime.get();
    const cookies = ctx.get('cookie') || undefined;
    const signedIn = await signedInPerson(runtime, cookies);
    if (!signedIn) return notSignedIn(ctx, runtime);
    const { session, user } = signedIn;
    const binding = bindBrowser(runtime.publicUrl, cookies);
    ctx.append('Set-Cookie', binding.setCookie);
    const consents = await new Consents(runtime.store).list(user.username);
    const body = renderAccountPage({
      person: user.displayName ?? user.username,
      ...(user.fhirUser !== undefined ? { fhirUser: user.fhirUser } : {}),
      apps: consents.map((consent) => grantedApp(runtime, consent)),
      csrfToken: createCsrfToken(await sharedSecret(runtime.store, 'csrf'), csrfSubject(session), binding.value),
      withdrawUrl: runtime.publicUrl + OAUTH_PATHS.accountWithdraw,
      logoutUrl: runtime.publicUrl + OAUTH_PATHS.logout,
      stylesheetHref: runtime.publicUrl + OAUTH_PATHS.stylesheet,
      ...(ctx.query['done'] === WITHDRAWN_NOTICE ? { notice: 'Access withdrawn. The app must ask you again.' } : {}),
    });
    sendPage(ctx, 200, body);
  }

  async function withdraw(ctx: Context): Promise<void> {
    const runtime = deps.runtime.get();
    const cookies = ctx.get('cookie') || undefined;
    const form = formOf(ctx);
    const binding = browserBindingOf(cookies);
    const signedIn = await signedInPerson(runtime, cookies);
    if (!signedIn) return notSignedIn(ctx, runtime);
    if (binding === undefined || !verifyCsrfToken(await sharedSecret(runtime.store, 'csrf'), csrfSubject(signedIn.session), binding, form.csrf)) {
      return sendErrorPage(ctx, 403, 'This form has expired', 'The page was open too long or did not come from this server. Open your account page again.');
    }
    const clientId = form.client_id ?? '';
    if (clientId === '') return sendErrorPage(ctx, 400, 'Invalid request', 'No app was named.');
    const families = tokenFamilies(runtime);
    await new Consents(runtime.store).withdraw(signedIn.user.username, clientId, (familyId) => families.revoke(familyId));
    sendRedirect(ctx, `${runtime.publicUrl}${OAUTH_PATHS.account}?done=${WITHDRAWN_NOTICE}`);
  }

  return { page, withdraw };
}

async function signedInPerson(runtime: Runtime, cookies: string | undefined): Promise<{ session: BrowserSession; user: SignedInUser } | undefined> {
  const session = await currentSession(runtime, cookies);
  const user = session ? sessionUser(runtime, session) : undefined;
  return session && user ? { session, user } : undefined;
}

function notSignedIn(ctx: Context, runtime: Runtime): void {
  sendPage(
    ctx,
    403,
    renderMessagePage({
      title: 'You are not signed in',
      message: 'Your account page shows the apps you allowed. Sign in through one of those apps, then open this page again.',
      stylesheetHref: runtime.publicUrl + OAUTH_PATHS.stylesheet,
    }),
  );
}

function grantedApp(runtime: Runtime, consent: AppConsent): GrantedApp {
  const client = runtime.clients.get(consent.clientId);
  return {
    clientId: consent.clientId,
    name: client?.client_name || consent.clientId,
    ...(consent.remembered !== undefined ? { remembered: consent.remembered } : {}),
    refreshTokens: [...consent.refreshFamilies].sort((a, b) => b.createdAt - a.createdAt).map(({ scope, createdAt, exp }) => ({ scope, createdAt, exp })),
  };
}
