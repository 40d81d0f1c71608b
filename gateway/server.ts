import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/types.js';
import { OAuthError } from '../authz/oauth-error.js';
import { oauthErrors } from '../authz/oauth-errors-middleware.js';
import { oauthRouter } from '../authz/oauth-routes.js';
import { buildRuntime, RuntimeHolder } from '../authz/runtime.js';
import { loadKeyRing } from '../authz/signing-keys.js';
import { fhirAccess } from './fhir-access.js';
import { createHttpProxyForwarder, type Forwarder } from './forwarder.js';
import { sendOutcome } from './operation-outcome.js';
import { requestId } from './request-id.js';
import { requestLog } from './request-log.js';
import type { Store } from './store/store.js';

export interface Gateway {
  server: Server;
  /** Where it listens, e.g. http://127.0.0.1:34567 */
  url: string;
  runtime: RuntimeHolder;
  store: Store;
  close(): Promise<void>;
}

export interface GatewayOptions {
  config: GatewayConfig;
  store: Store;
  log: Logger;
}

export function createApp(deps: { runtime: RuntimeHolder; forwarder: Forwarder; log: Logger }): Koa {
  const app = new Koa({ proxy: false });
  const { runtime, log } = deps;

  const oauth = oauthRouter({ runtime });
  const oauthRoutes = oauth.routes();
  const oauthMethods = oauth.allowedMethods({ throw: true });
  const fhir = fhirAccess({ runtime, forwarder: deps.forwarder, log });

  app.use(requestId());
  app.use(requestLog(log));
  app.use(async (ctx, next) => {
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok' };
      return;
    }
    if (ctx.path.startsWith('/oauth/') || ctx.path.startsWith('/.well-known/')) {
      await oauthErrors(log)(ctx, async () => {
        const routerCtx = ctx as unknown as Parameters<typeof oauthRoutes>[0];
        await oauthRoutes(routerCtx, async () => undefined);
        if (ctx.status === 404 && ctx.body === undefined) {
          await oauthMethods(routerCtx as unknown as Parameters<typeof oauthMethods>[0], async () => undefined).catch((err: { status?: number }) => {
            throw new OAuthError('invalid_request', `Method ${ctx.method} is not allowed here`, { status: err.status ?? 405 });
          });
          if (ctx.status === 404 && ctx.body === undefined) throw new OAuthError('invalid_request', 'No such endpoint', { status: 404 });
        }
      });
      return;
    }
    try {
      await fhir(ctx);
    } catch (err) {
      log.error({ err }, 'FHIR request failed');
      if (!ctx.headerSent && ctx.respond !== false) sendOutcome(ctx, 500, 'exception', 'Unexpected gateway error');
    }
    void next;
  });
  return app;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { config, store, log } = options;
  await store.connect();
  const keys = await loadKeyRing({ signingKeyFile: config.tokens.signing_key_file, store, log });
  const runtime = new RuntimeHolder(buildRuntime(config, keys, store));
  const forwarder = createHttpProxyForwarder({ upstream: config.upstream, publicUrl: runtime.get().publicUrl });
  const app = createApp({ runtime, forwarder, log });
  const server = createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.server.port, config.server.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  log.info({ url, upstream: config.upstream.url, store: store.kind }, 'gateway listening');

  return {
    server,
    url,
    runtime,
    store,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      forwarder.close();
      await store.close();
    },
  };
}
