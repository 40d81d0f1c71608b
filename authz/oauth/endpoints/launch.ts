import type { Context, Next } from 'koa';
import type { RuntimeHolder } from '../../runtime.js';
import { invalidClient } from '../clients/client-authentication.js';
import { OAuthError } from '../oauth-error.js';
import { launchTtlSeconds, launchUrl, Launches } from '../records/launches.js';
import { parseLaunchContextFields } from '../records/launch-context.js';
import { clientOf } from '../steps/client-authentication.js';
import { launchBodyOf } from '../steps/launch-body.js';
import { setNoStore } from '../token-response.js';

interface LaunchEndpointDeps {
  runtime: RuntimeHolder;
}

/**
 * Before client authentication at POST /oauth/launch: in this body `client_id` names the app to
 * launch, so the EHR cannot identify itself with it. It authenticates with HTTP Basic
 * (client_secret_basic) or a private_key_jwt assertion; a `client_secret` in the body
 * (client_secret_post) is refused with the reason, and a request with no authentication at all
 * gets 401 with the Basic challenge.
 */
export async function launchAuthenticationGuard(ctx: Context, next: Next): Promise<void> {
  const body = launchBodyOf(ctx);
  if (body['client_secret'] !== undefined) {
    throw new OAuthError(
      'invalid_request',
      'client_secret_post is not accepted here: client_id names the app to launch. Authenticate the EHR with HTTP Basic (client_secret_basic) or a private_key_jwt client_assertion',
    );
  }
  if (!ctx.get('authorization') && body['client_assertion'] === undefined && body['client_assertion_type'] === undefined) {
    throw invalidClient('Client authentication is required: HTTP Basic or a private_key_jwt client_assertion', true);
  }
  return next();
}

/**
 * POST /oauth/launch (SMART EHR launch): an authenticated EHR (a client with
 * `creates_launches: true`) creates a launch context for an app and gets back
 * `201 {"launch", "expires_in", "launch_url"}`; `launch_url` is the app's `launch_uri` with `iss`
 * and `launch` added, for the EHR to open. The app redeems the value once in its authorize
 * request (records/launches.ts).
 */
export function launchEndpoint(deps: LaunchEndpointDeps) {
  return async (ctx: Context): Promise<void> => {
    const runtime = deps.runtime.get();
    const ehr = clientOf(ctx);
    if (ehr.creates_launches !== true) throw new OAuthError('unauthorized_client', 'This client may not create launches (creates_launches is not set)');
    const body = launchBodyOf(ctx);
    const appId = body['client_id'];
    if (typeof appId !== 'string' || appId === '') throw new OAuthError('invalid_request', 'client_id is required: the app to launch');
    const app = runtime.clients.get(appId);
    if (!app) throw new OAuthError('invalid_request', `No app with client_id ${JSON.stringify(appId)} is registered`);
    if (app.launch_uri === undefined) throw new OAuthError('invalid_request', `The app ${JSON.stringify(appId)} has no launch_uri: it cannot be launched by an EHR`);
    const parsed = parseLaunchContextFields(body);
    if (!parsed.ok) throw new OAuthError('invalid_request', parsed.description);

    const ttl = launchTtlSeconds(runtime.config.tokens);
    const created = await new Launches(runtime.store, ttl).create({ ...parsed.context, clientId: app.client_id, createdBy: ehr.client_id });
    setNoStore(ctx);
    ctx.status = 201;
    ctx.type = 'application/json';
    ctx.body = { launch: created.launch, expires_in: created.expiresIn, launch_url: launchUrl(app.launch_uri, runtime.tokens.issuer, created.launch) };
  };
}
