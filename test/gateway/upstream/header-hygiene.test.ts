import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { normalizeHeaderName } from '../../../config/upstream-schema.js';
import { docPromises } from '../../support/doc-promises.js';
import { callGateway, FORWARDERS, startUpstreamGateway, type ForwarderKind, type GatewayAnswer, type UpstreamGateway } from '../../support/upstream-gateway.js';

/**
 * Issue 12 (items 1, 8, 10, 14, 15): what crosses the gateway between client and upstream, on
 * both forwarders and on every path a request takes (a streamed read, an inspected search, a
 * batch, and a confined update with the gateway's own stored-resource check before it).
 *
 * The client sends hop-by-hop headers named in Connection and every forwarding or path-override
 * header it could hope to pass off; the upstream answers every request with hop-by-hop headers
 * named in Connection, cookies (one named like the gateway's session), its own CORS headers, a
 * Vary, Link headers naming its base URL, and no Cache-Control unless asked for one.
 */

const promises = docPromises('docs/production.md');

const PATIENT = 'p1';
const APP_ORIGIN = 'https://app.example';
const EVIL_ORIGIN = 'https://evil.example';

/** What a client sends to be taken for somebody, somewhere or some path else, and a header it marks hop-by-hop. */
const CLIENT_HEADERS: Record<string, string> = {
  connection: 'keep-alive, X-Hop-Test',
  'X-Hop-Test': '1',
  Forwarded: 'for=6.6.6.6;host=evil.example;proto=https',
  'X-Real-IP': '6.6.6.6',
  'X-Forwarded-For': '6.6.6.6',
  'X-Forwarded-Proto': 'https',
  'X-Forwarded-Host': 'evil.example',
  'X-Forwarded-Port': '444',
  'X-Forwarded-Prefix': '/admin',
  'X-Original-URL': '/admin/Patient',
  'X-Rewrite-URL': '/admin/Patient',
  X_Forwarded_For: '6.6.6.7',
  x_forwarded_host: 'evil2.example',
  x_original_url: '/admin',
};
/** The client's names above (but Connection, asserted apart), as the upstream would read them (any case, `_` for `-`). */
const CLIENT_NAMES = new Set(Object.keys(CLIENT_HEADERS).map(normalizeHeaderName).filter((name) => name !== 'connection'));

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

interface HostileUpstream {
  baseUrl: string;
  received: Received[];
}

/**
 * A FHIR server that answers the four requests of `paths` with hostile headers, and records what
 * it received. Requests whose URL contains `cached` get the upstream's own Cache-Control.
 */
async function startHostileUpstream(t: Test): Promise<HostileUpstream> {
  const received: Received[] = [];
  let baseUrl = '';
  const observation = { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'hr' }, subject: { reference: `Patient/${PATIENT}` } };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = req.url ?? '/';
      received.push({ method: req.method ?? 'GET', url, headers: req.headers });
      const path = url.split('?')[0];
      let body: unknown;
      if (req.method === 'GET' && path?.startsWith('/fhir/Patient/')) body = { resourceType: 'Patient', id: path.slice('/fhir/Patient/'.length) };
      else if (req.method === 'GET' && path === '/fhir/Observation') {
        body = { resourceType: 'Bundle', type: 'searchset', link: [{ relation: 'self', url: `${baseUrl}${url.slice('/fhir'.length)}` }], entry: [{ fullUrl: `${baseUrl}/Observation/o1`, resource: observation }] };
      } else if (req.method === 'POST' && (path === '/fhir' || path === '/fhir/')) {
        body = { resourceType: 'Bundle', type: 'batch-response', entry: [{ resource: { resourceType: 'Patient', id: PATIENT }, response: { status: '200 OK' } }] };
      } else if (path === '/fhir/Observation/o1') body = observation;
      else body = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] };
      res.writeHead(body && (body as { resourceType: string }).resourceType === 'OperationOutcome' ? 404 : 200, [
        'Content-Type', 'application/fhir+json; charset=utf-8',
        'Connection', 'keep-alive',
        'Connection', 'X-Up-Hop',
        'X-Up-Hop', '1',
        'Set-Cookie', 'fhirgw_session=from-upstream; Path=/; HttpOnly',
        'Set-Cookie', 'tracker=1; Path=/',
        'Access-Control-Allow-Origin', '*',
        'Access-Control-Allow-Credentials', 'true',
        'Access-Control-Expose-Headers', 'X-Upstream-Secret',
        'Vary', 'Accept',
        'Link', `<${baseUrl}/Observation?page=2>; rel="next", <https://elsewhere.example/doc>; rel="help"`,
        'Link', `<${baseUrl}>; rel="service-desc"; title="the \\"server\\" <${baseUrl}/x>"`,
        ...(url.includes('cached') ? ['Cache-Control', 'private, max-age=60'] : []),
      ]);
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { baseUrl, received };
}

interface PathAnswer {
  name: string;
  answer: GatewayAnswer;
  /** What the upstream received for this one client request (the gateway's own check first, if any). */
  received: Received[];
}

/** The four paths, each called with `origin`: streamed read, inspected search, batch, confined update. */
async function paths(t: Test, gateway: UpstreamGateway, upstream: HostileUpstream, origin: string): Promise<PathAnswer[]> {
  const user = await gateway.mint({ sub: 'dr-bob', scope: 'user/*.cruds' });
  const patient = await gateway.mint({ sub: 'alice', scope: 'launch/patient patient/*.cruds', patient: PATIENT });
  const headers = { ...CLIENT_HEADERS, origin };
  const observation = JSON.stringify({ resourceType: 'Observation', id: 'o1', status: 'amended', code: { text: 'hr' }, subject: { reference: `Patient/${PATIENT}` } });
  const batch = JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${PATIENT}` } }] });
  const calls: [string, string, string, string, string | undefined][] = [
    ['streamed read', user, 'GET', `/Patient/${PATIENT}`, undefined],
    ['inspected search', patient, 'GET', '/Observation?code=hr', undefined],
    ['batch', user, 'POST', '/', batch],
    ['confined update', patient, 'PUT', '/Observation/o1', observation],
  ];
  const out: PathAnswer[] = [];
  for (const [name, token, method, path, body] of calls) {
    const before = upstream.received.length;
    const answer = await gateway.call(token, method, path, { headers, ...(body !== undefined ? { body } : {}) });
    t.equal(answer.status, 200, `${name}: 200 (${answer.text.slice(0, 200)})`);
    out.push({ name, answer, received: upstream.received.slice(before) });
  }
  return out;
}

/** The received headers whose name the client also sent, in any spelling. */
function clientNamed(headers: IncomingHttpHeaders): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => CLIENT_NAMES.has(normalizeHeaderName(name))));
}

async function gatewayFor(t: Test, forwarder: ForwarderKind, proxy?: Record<string, unknown>): Promise<{ gateway: UpstreamGateway; upstream: HostileUpstream }> {
  const upstream = await startHostileUpstream(t);
  const gateway = await startUpstreamGateway(t, {
    upstream: { url: upstream.baseUrl },
    forwarder,
    edit: (raw) => {
      raw.clients.push({ client_id: 'app', token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], scope: 'launch/patient patient/*.cruds user/*.cruds', redirect_uris: [`${APP_ORIGIN}/cb`] });
      if (proxy) raw.proxy = proxy;
    },
  });
  return { gateway, upstream };
}

for (const forwarder of FORWARDERS) {
  t.test(`${forwarder}: request headers`, async (t) => {
    promises(t, 'every header `Connection` names', 'every client copy of a forwarding or path-override header, in any case and with `_` for `-`');
    const { gateway, upstream } = await gatewayFor(t, forwarder);
    const publicHost = new URL(gateway.gw.url).host;
    for (const { name, received } of await paths(t, gateway, upstream, EVIL_ORIGIN)) {
      t.equal(received.length, name === 'confined update' ? 2 : 1, `${name}: one request upstream (and the stored-resource check)`);
      for (const request of received) {
        const own = name === 'confined update' && request.method === 'GET';
        const what = `${name}${own ? " (the gateway's own check)" : ''}`;
        t.same(
          clientNamed(request.headers),
          { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': publicHost },
          `${what}: only the forwarding headers the gateway vouches for; no header named in Connection, no client copy of a forwarding or path-override header`,
        );
        t.notOk(/x-hop-test/i.test(String(request.headers.connection ?? '')), `${what}: Connection does not name the client's hop header`);
      }
    }
  });

  t.test(`${forwarder}: response headers`, async (t) => {
    promises(
      t,
      '`Set-Cookie` (cookies on the gateway\'s origin are its own) and every `Access-Control-*`',
      '`Location`, `Content-Location` and each `<uri>` of `Link` becomes `server.public_url`',
      'the upstream\'s `Vary` is joined to the gateway\'s `Vary: Origin`',
      'the upstream\'s when it sends one, else `proxy.cache_control` (default `no-store`',
    );
    const { gateway, upstream } = await gatewayFor(t, forwarder);
    const publicBase = gateway.gw.url;
    for (const origin of [EVIL_ORIGIN, APP_ORIGIN]) {
      for (const { name, answer } of await paths(t, gateway, upstream, origin)) {
        const what = `${name}, Origin ${origin}`;
        t.notOk(answer.headers['x-up-hop'], `${what}: no header the upstream named in Connection`);
        t.notOk(/x-up-hop|x-hop-test/i.test(String(answer.headers.connection ?? '')), `${what}: Connection names neither side's hop headers`);
        t.notOk(answer.headers['set-cookie'], `${what}: no cookie of the upstream's on the gateway's origin`);
        const cors = Object.fromEntries(Object.entries(answer.headers).filter(([header]) => header.startsWith('access-control-')));
        if (origin === EVIL_ORIGIN) t.same(cors, {}, `${what}: an unknown origin gets no CORS header at all`);
        else {
          t.same(
            { origin: cors['access-control-allow-origin'], credentials: cors['access-control-allow-credentials'] },
            { origin: APP_ORIGIN, credentials: undefined },
            `${what}: the gateway's CORS answer, not the upstream's`,
          );
          t.notOk(String(cors['access-control-expose-headers']).includes('X-Upstream-Secret'), `${what}: the gateway's exposed headers`);
        }
        t.equal(answer.headers.vary, 'Origin, Accept', `${what}: the gateway's Vary: Origin, joined by the upstream's Vary`);
        t.equal(answer.headers['cache-control'], 'no-store', `${what}: no-store when the upstream says nothing`);
        t.equal(
          answer.headers.link,
          `<${publicBase}/Observation?page=2>; rel="next", <https://elsewhere.example/doc>; rel="help", <${publicBase}>; rel="service-desc"; title="the \\"server\\" <${upstream.baseUrl}/x>"`,
          `${what}: upstream URLs in Link are the gateway's, other links and quoted text untouched`,
        );
      }
    }
    const read = await callGateway(publicBase, 'GET', `/Patient/${PATIENT}-cached`, { headers: { authorization: `Bearer ${await gateway.mint({ sub: 'dr-bob', scope: 'user/*.cruds' })}` } });
    t.equal(read.headers['cache-control'], 'private, max-age=60', "streamed read: the upstream's own Cache-Control is kept");
    const search = await gateway.call(await gateway.mint({ sub: 'alice', scope: 'launch/patient patient/*.cruds', patient: PATIENT }), 'GET', '/Observation?code=cached');
    t.equal(search.status, 200);
    t.equal(search.headers['cache-control'], 'private, max-age=60', "inspected search: the upstream's own Cache-Control is kept");
  });
}

t.test('proxy.cache_control replaces the no-store default', async (t) => {
  const { gateway, upstream } = await gatewayFor(t, 'undici', { cache_control: 'private, no-cache' });
  for (const { name, answer } of await paths(t, gateway, upstream, EVIL_ORIGIN)) {
    t.equal(answer.headers['cache-control'], 'private, no-cache', `${name}: the configured value`);
  }
  const missing = await gateway.call(await gateway.mint({ sub: 'dr-bob', scope: 'user/*.cruds' }), 'GET', '/Nothing/here');
  t.equal(missing.headers['cache-control'], 'no-store', "the gateway's own refusal stays no-store");
});
