import type { Context } from 'koa';
import type { Runtime, RuntimeHolder } from '../../runtime.js';
import { providerLogoutUrl } from '../federation/provider-logout.js';
import { sendPage, sendRedirect } from '../pages/html-response.js';
import { renderMessagePage } from '../pages/message-page.js';
import { OAUTH_PATHS } from '../paths.js';
import { currentSession, endSession } from '../records/browser-sessions.js';

interface LogoutDeps {
  runtime: RuntimeHolder;
}

/**
 * GET /oauth/logout ends the gateway's browser session. A person who signed in through an
 * identity provider with an `end_session_endpoint` is then sent there (OpenID Connect
 * RP-Initiated Logout, with `id_token_hint` and `post_logout_redirect_uri` =
 * {public_url}/oauth/logged-out, which the operator registers at the provider), so the provider's
 * session ends too; everyone else sees the signed-out page at once. Tokens already issued to apps
 * are not touched: that is what the account page's withdraw buttons are for.
 */
export function logoutEndpoints(deps: LogoutDeps) {
  async function logout(ctx: Context): Promise<void> {
    const runtime = deps.runtime.get();
    const session = await currentSession(runtime, ctx.get('cookie') || undefined);
    if (session) {
      ctx.append('Set-Cookie', await endSession(runtime, session));
      const { person, idToken } = session;
      if (person !== undefined) {
        const providerLogout = await providerLogoutUrl(runtime.relyingParties, {
          providerId: person.providerId,
          ...(idToken !== undefined ? { idTokenHint: idToken } : {}),
          postLogoutRedirectUri: runtime.publicUrl + OAUTH_PATHS.loggedOut,
        });
        if (providerLogout) return sendRedirect(ctx, providerLogout.href);
      }
    }
    signedOut(ctx, runtime);
  }

  async function loggedOut(ctx: Context): Promise<void> {
    signedOut(ctx, deps.runtime.get());
  }

  return { logout, loggedOut };
}

function signedOut(ctx: Context, runtime: Runtime): void {
  sendPage(
    ctx,
    200,
    renderMessagePage({
      title: 'You are signed out',
      message: 'You are no longer signed in on this server. Apps you allowed keep the access you gave them until it expires or you withdraw it on your account page.',
      stylesheetHref: runtime.publicUrl + OAUTH_PATHS.stylesheet,
    }),
  );
}
