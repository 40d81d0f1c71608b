import type { IncomingMessage } from 'node:http';
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import type { GrantType } from '../../config/types.js';
import type { RuntimeHolder } from '../runtime.js';
import { STARTING_MESSAGE } from '../store.js';
import { privateKeyJwtVerifier } from './clients/client-assertion-verifier.js';
import type { AssertionVerifier } from './clients/client-authentication.js';
import { accountEndpoints } from './endpoints/account.js';
import { authorizeEndpoints } from './endpoints/authorize.js';
import { federatedSignInEndpoints } from './endpoints/federated-sign-in.js';
import { launchAuthenticationGuard, launchEndpoint } from './endpoints/launch.js';
import { logoutEndpoints } from './endpoints/logout.js';
import { patientPickerEndpoint } from './endpoints/patient-picker.js';
import { authorizationServerMetadata, smartConfiguration } from './endpoints/discovery.js';
import { introspectionEndpoint } from './endpoints/introspection.js';
import { revocationEndpoint } from './endpoints/revocation.js';
import { grantFor, tokenEndpoint, type TokenEndpointGrants } from './endpoints/token.js';
import { FEATURES } from './features.js';
import { authorizationCodeGrant } from './grants/authorization-code.js';
import { clientCredentialsGrant } from './grants/client-credentials.js';
import { passwordGrant } from './grants/password.js';
import { refreshTokenGrant } from './grants/refresh-token.js';
import { cors } from './cors.js';
import { OAuthError } from './oauth-error.js';
import { htmlErrors, sendErrorPage } from './pages/html-response.js';
import { PAGE_STYLES } from './pages/styles.js';
import { PatientDirectory, type FhirReader } from './patient-directory.js';
import { OAUTH_PATHS } from './paths.js';
import { clientAuthentication } from './steps/client-authentication.js';
import { formBody } from './steps/form-body.js';
import { ipRateLimit, type IpLimitName } from './steps/ip-rate-limit.js';
import { jsonErrors } from './steps/json-errors.js';
import { launchBody, launchCredentialsOf } from './steps/launch-body.js';
import { storeAvailable } from './steps/store-available.js';

interface AuthorizationServerDeps {
  runtime: RuntimeHolder;
  /** The client's address as the gateway trusts it (X-Forwarded-For only from trusted proxies). */
  clientIp: (req: IncomingMessage) => string;
  /** False until the store has been reached and the signing keys loaded: every endpoint answers 503. */
  ready: () => boolean;
  log: { error(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** GETs of the upstream FHIR server through the gateway's upstream connection (the patient picker). */
  upstream: FhirReader;
  /** Replaces private_key_jwt verification (tests); defaults to the real one. */
  verifyAssertion?: AssertionVerifier;
  /** Replaces the growing delay after failed sign-ins (tests). */
  throttleSleep?: (ms: number) => Promise<unknown>;
  /** Called once per token response from the token endpoint (metrics). */
  onTokenIssued?: (grantType: GrantType) => void;
  /** Called once per request refused by a per-IP limit (metrics). */
  onRateLimited?: (limit: IpLimitName) => void;
}

/**
 * The authorization server: every endpoint under /oauth and /.well-known, as a Koa app whose
 * `callback()` the gateway hands those requests to (as node-oidc-provider exposes its app). Each
 * route declares its own steps in the order they run (errors as JSON or as a page → store →
 * per-IP limit → form body → client authentication → handler), so what guards an endpoint is
 * read in one line.
 */
export function createAuthorizationServer(deps: AuthorizationServerDeps): Koa {
  const { runtime, log } = deps;
  const router = new Router();
  const verifyAssertion = deps.verifyAssertion ?? privateKeyJwtVerifier(runtime);
  const throttle = deps.throttleSleep ? { throttleSleep: deps.throttleSleep } : {};

  const json = jsonErrors(log);
  const page = htmlErrors(log);
  const form = formBody(() => runtime.get().config.server.max_body_bytes);
  const client = clientAuthentication(runtime, verifyAssertion);
  const limited = (limit: IpLimitName, refuse?: (ctx: Context, retryAfterSeconds: number) => void) =>
    ipRateLimit({ runtime, limit, ...(deps.onRateLimited ? { onRefused: deps.onRateLimited } : {}), ...(refuse ? { refuse } : {}) });

  const document = (build: (publicUrl: string) => unknown) => async (ctx: Context) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = build(runtime.get().publicUrl);
  };
  router.get(OAUTH_PATHS.jwks, json, document(() => runtime.get().keys.jwks()));
  router.get(OAUTH_PATHS.asMetadata, json, document((url) => authorizationServerMetadata(url, FEATURES)));
  router.get(OAUTH_PATHS.smartConfiguration, json, document((url) => smartConfiguration(url, FEATURES)));

  const grants: TokenEndpointGrants = {
    client_credentials: clientCredentialsGrant,
    authorization_code: authorizationCodeGrant,
    password: passwordGrant(throttle),
    refresh_token: refreshTokenGrant,
  };
  const token = tokenEndpoint({ runtime, grants, ...(deps.onTokenIssued ? { onIssued: deps.onTokenIssued } : {}) });
  const tokenClient = clientAuthentication(runtime, verifyAssertion, {
    clientOfUnauthenticatedRequest: async (_ctx, form) => grantFor(grants, form.grant_type)?.clientOfUnauthenticatedRequest?.(runtime.get(), form),
  });
  router.post(OAUTH_PATHS.token, json, storeAvailable(runtime), limited('per_ip_token'), form, tokenClient, token);
  // SMART EHR launch: client_id in the body names the app, so only the credentials authenticate.
  const ehrClient = clientAuthentication(runtime, verifyAssertion, { credentialsOf: launchCredentialsOf });
  const launchForm = launchBody(() => runtime.get().config.server.max_body_bytes);
  router.post(OAUTH_PATHS.launch, json, storeAvailable(runtime), limited('per_ip_token'), launchForm, launchAuthenticationGuard, ehrClient, launchEndpoint({ runtime }));
  router.post(OAUTH_PATHS.introspect, json, form, client, introspectionEndpoint({ runtime }));
  router.post(OAUTH_PATHS.revoke, json, form, client, revocationEndpoint({ runtime }));

  // Browser pages: errors become HTML pages, never JSON.
  const pages = authorizeEndpoints({ runtime, ...throttle });
  const federated = federatedSignInEndpoints({ runtime, log });
  const account = accountEndpoints({ runtime });
  const logout = logoutEndpoints({ runtime });
  router.get(OAUTH_PATHS.authorize, page, pages.start);
  router.post(OAUTH_PATHS.login, page, limited('per_ip_login', tooManySignIns), form, pages.login);
  router.post(OAUTH_PATHS.federatedLogin, page, limited('per_ip_login', tooManySignIns), form, federated.begin);
  router.get(`${OAUTH_PATHS.callback}/:id`, page, federated.callback);
  router.post(OAUTH_PATHS.patientPicker, page, form, patientPickerEndpoint({ runtime, patients: new PatientDirectory(deps.upstream) }));
  router.post(OAUTH_PATHS.consent, page, form, pages.consent);
  router.get(OAUTH_PATHS.account, page, account.page);
  router.post(OAUTH_PATHS.accountWithdraw, page, form, account.withdraw);
  router.get(OAUTH_PATHS.logout, page, logout.logout);
  router.get(OAUTH_PATHS.loggedOut, page, logout.loggedOut);
  router.get(OAUTH_PATHS.stylesheet, async (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.type = 'text/css; charset=utf-8';
    ctx.body = PAGE_STYLES;
  });

  const app = new Koa({ proxy: false });
  app.use(async (ctx, next) => {
    ctx.request.ip = deps.clientIp(ctx.req);
    if (deps.ready()) return next();
    ctx.set({ 'Retry-After': '1', 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    ctx.status = 503;
    ctx.body = new OAuthError('temporarily_unavailable', STARTING_MESSAGE).toJSON();
  });
  app.use(cors({ runtime }));
  // What no route answered is an RFC 6749-style error too: 405 for a known path, else 404.
  app.use(async (ctx, next) =>
    json(ctx, async () => {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new OAuthError('invalid_request', 'No such endpoint', { status: 404 });
    }),
  );
  app.use(router.routes());
  app.use(
    router.allowedMethods({
      throw: true,
      methodNotAllowed: () => new OAuthError('invalid_request', 'This method is not allowed here', { status: 405 }),
      notImplemented: () => new OAuthError('invalid_request', 'This method is not implemented', { status: 501 }),
    }),
  );
  return app;
}

/** The login form is a browser navigation: its 429 is a page, not JSON. */
function tooManySignIns(ctx: Context, retryAfterSeconds: number): void {
  sendErrorPage(ctx, 429, 'Too many sign-in attempts', `Too many sign-in attempts came from your network. Try again in ${retryAfterSeconds} seconds.`);
}
