import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { ClientRegistry } from '../../../authz/oauth/clients/client-registry.js';
import { cors } from '../../../authz/oauth/cors.js';
import { RuntimeHolder, type Runtime } from '../../../authz/runtime.js';
import type { ClientConfig } from '../../../config/types.js';

/** The CORS middleware in front of a stand-in for the gateway's routes, over real HTTP. */
t.test('CORS for registered redirect origins only', async (t) => {
  const client = (client_id: string, redirect_uris: string[]): ClientConfig => ({
    client_id,
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    scope: 'patient/*.rs',
    redirect_uris,
  });
  const runtime = new RuntimeHolder({
    clients: new ClientRegistry([
      client('spa', ['https://spa.example.org/cb']),
      client('dev', ['http://localhost:3000/callback', 'com.example.app:/oauth']),
    ]),
  } as unknown as Runtime);
  const app = new Koa();
  let reached = 0;
  app.use(cors({ runtime }));
  app.use(async (ctx) => {
    reached++;
    ctx.body = { path: ctx.path };
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const preflight = (path: string, origin: string) =>
    fetch(`${base}${path}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });

  for (const path of ['/oauth/token', '/oauth/introspect', '/oauth/revoke', '/.well-known/smart-configuration', '/.well-known/jwks.json', '/Patient/1']) {
    const allowed = await preflight(path, 'https://spa.example.org');
    t.equal(allowed.status, 204, `${path}: preflight from a registered origin`);
    t.equal(allowed.headers.get('access-control-allow-origin'), 'https://spa.example.org');
    t.match(allowed.headers.get('access-control-allow-headers'), /authorization/);
    t.match(allowed.headers.get('access-control-allow-methods'), /POST/);
    t.match(allowed.headers.get('vary'), /Origin/);

    const refused = await preflight(path, 'https://evil.example.com');
    t.equal(refused.status, 403, `${path}: preflight from an unknown origin`);
    t.equal(refused.headers.get('access-control-allow-origin'), null);
    t.equal(refused.headers.get('access-control-allow-methods'), null);
  }

  const before = reached;
  const simple = await fetch(`${base}/Patient/1`, { headers: { origin: 'http://localhost:3000' } });
  t.equal(simple.headers.get('access-control-allow-origin'), 'http://localhost:3000', 'a request from a registered origin');
  t.match(simple.headers.get('access-control-expose-headers'), /location/);
  const unknown = await fetch(`${base}/Patient/1`, { headers: { origin: 'https://evil.example.com' } });
  t.equal(unknown.status, 200, 'a request from an unknown origin is not blocked here (the token decides)...');
  t.equal(unknown.headers.get('access-control-allow-origin'), null, '...but the browser gets no CORS permission');
  t.equal(reached - before, 2, 'preflights never reach the routes; real requests do');

  const lookalike = await preflight('/oauth/token', 'https://spa.example.org:8443');
  t.equal(lookalike.status, 403, 'same host, other port');
  const noOrigin = await fetch(`${base}/oauth/token`, { method: 'OPTIONS', headers: { 'access-control-request-method': 'POST' } });
  t.equal(noOrigin.headers.get('access-control-allow-origin'), null, 'no Origin, no CORS');
  const page = await preflight('/oauth/authorize', 'https://spa.example.org');
  t.equal(page.headers.get('access-control-allow-origin'), null, 'the login pages are not for fetch()');
});
