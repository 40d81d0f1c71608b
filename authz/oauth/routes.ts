import Router from '@koa/router';
import type { Context } from 'koa';
import type { GrantType } from '../../config/types.js';
import { authorizeEndpoints } from './endpoints/authorize.js';
import { privateKeyJwtVerifier } from './clients/client-assertion-verifier.js';
import type { AssertionVerifier } from './clients/client-authentication.js';
import { authorizationServerMetadata, smartConfiguration } from './endpoints/discovery.js';
import { OAUTH_PATHS } from './paths.js';
import { FEATURES } from './features.js';
import { formBody } from './steps/form-body.js';
import { authorizationCodeGrant } from './grants/authorization-code.js';
import { clientCredentialsGrant } from './grants/client-credentials.js';
import { passwordGrant } from './grants/password.js';
import { refreshTokenGrant } from './grants/refresh-token.js';
import { htmlErrors } from './pages/html-response.js';
import { INTERACTIVE_PATHS } from './interactive-paths.js';
import { introspectionEndpoint } from './endpoints/introspection.js';
import { PAGE_STYLES } from './pages/styles.js';
import { STYLESHEET_PATH } from './pages/layout.js';
import { revocationEndpoint } from './endpoints/revocation.js';
import type { RuntimeHolder } from '../runtime.js';
import { tokenEndpoint } from './endpoints/token.js';

export interface OAuthRouteDeps {
  runtime: RuntimeHolder;
  log?: { error(obj: object, msg: string): void };
  /** Replaces private_key_jwt verification (tests); defaults to the real one. */
  verifyAssertion?: AssertionVerifier;
  /** Replaces the growing delay after failed sign-ins (tests). */
  throttleSleep?: (ms: number) => Promise<unknown>;
  /** Called once per token response from the token endpoint (metrics). */
  onTokenIssued?: (grantType: GrantType) => void;
}

/** Every endpoint under /oauth and /.well-known that the gateway answers itself. */
export function oauthRouter(deps: OAuthRouteDeps): Router {
  const { runtime } = deps;
  const router = new Router();
  const verifyAssertion = deps.verifyAssertion ?? privateKeyJwtVerifier(runtime);
  const form = formBody(() => runtime.get().config.server.max_body_bytes);
  const throttle = deps.throttleSleep ? { throttleSleep: deps.throttleSleep } : {};

  const json = (build: (publicUrl: string) => unknown) => async (ctx: Context) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = build(runtime.get().publicUrl);
  };
  router.get(OAUTH_PATHS.jwks, json(() => runtime.get().keys.jwks()));
  router.get(OAUTH_PATHS.asMetadata, json((url) => authorizationServerMetadata(url, FEATURES)));
  router.get(OAUTH_PATHS.smartConfiguration, json((url) => smartConfiguration(url, FEATURES)));

  router.post(
    OAUTH_PATHS.token,
    form,
    tokenEndpoint({
      runtime,
      verifyAssertion,
      grants: [clientCredentialsGrant, authorizationCodeGrant, passwordGrant(throttle), refreshTokenGrant],
      ...(deps.onTokenIssued ? { onIssued: deps.onTokenIssued } : {}),
    }),
  );
  router.post(OAUTH_PATHS.introspect, form, introspectionEndpoint({ runtime, verifyAssertion }));
  router.post(OAUTH_PATHS.revoke, form, revocationEndpoint({ runtime, verifyAssertion }));

  // Browser pages: errors become HTML pages, never JSON.
  const pages = authorizeEndpoints({ runtime, ...throttle });
  const pageErrors = htmlErrors(deps.log);
  router.get(OAUTH_PATHS.authorize, pageErrors, pages.start);
  router.post(INTERACTIVE_PATHS.login, pageErrors, form, pages.login);
  router.post(INTERACTIVE_PATHS.consent, pageErrors, form, pages.consent);
  router.get(STYLESHEET_PATH, async (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.type = 'text/css; charset=utf-8';
    ctx.body = PAGE_STYLES;
  });
  return router;
}
