import { connect } from 'node:net';
import t, { type Test } from 'tap';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { startUpstreamGateway } from '../../support/upstream-gateway.js';

/**
 * Issue 12, item 11: RFC 9112 §3.2. Two Host lines, or a Host that is not RFC 3986 host[:port],
 * are answered 400 with `Connection: close` before any routing, on every route (FHIR with an
 * OperationOutcome, OAuth and operations with a JSON error), and nothing reaches the upstream.
 * A missing Host on HTTP/1.1 is 400 too (node's parser); HTTP/1.0 may omit it.
 */

interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

/** Sends `request` as written on its own connection (left open: a half-close would abort it) and reads until the gateway closes it. */
function rawRequest(port: number, request: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let read = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no close within 10 s; read: ${read}`)), 10_000);
    socket.on('data', (data: Buffer) => (read += data.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      const split = read.indexOf('\r\n\r\n');
      const head = split === -1 ? read : read.slice(0, split);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, body: split === -1 ? '' : read.slice(split + 4) });
    });
    socket.write(request);
  });
}

/** The CLI-started gateway (undici forwarder) before a demo FHIR upstream, with a token for it. */
async function startHostGateway(t: Test) {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  const gateway = await startUpstreamGateway(t, { upstream: { url: upstream.baseUrl }, forwarder: 'undici' });
  const token = await gateway.mint({ sub: 'svc', scope: 'system/*.cruds' });
  return { upstream, token, port: gateway.gw.port };
}

t.test('a duplicate or malformed Host is refused with 400 on every route, before the upstream', async (t) => {
  const { upstream, token, port } = await startHostGateway(t);
  const good = `127.0.0.1:${port}`;
  const form = 'grant_type=client_credentials';
  const patient = '{"resourceType":"Patient"}';
  const routes = [
    { name: 'FHIR read', fhir: true, request: (host: string) => `GET /Patient?name=x HTTP/1.1\r\n${host}Authorization: Bearer ${token}\r\n\r\n` },
    { name: 'FHIR write', fhir: true, request: (host: string) => `POST /Patient HTTP/1.1\r\n${host}Authorization: Bearer ${token}\r\nContent-Type: application/fhir+json\r\nContent-Length: ${patient.length}\r\n\r\n${patient}` },
    { name: 'OAuth token', fhir: false, request: (host: string) => `POST /oauth/token HTTP/1.1\r\n${host}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n\r\n${form}` },
    { name: 'discovery', fhir: false, request: (host: string) => `GET /.well-known/smart-configuration HTTP/1.1\r\n${host}\r\n` },
    { name: 'operations', fhir: false, request: (host: string) => `GET /healthz HTTP/1.1\r\n${host}\r\n` },
  ];
  const badHosts = [
    { name: 'two Host lines', lines: `Host: ${good}\r\nHost: evil.example\r\n` },
    { name: 'two Host lines, same value', lines: `Host: ${good}\r\nhost: ${good}\r\n` },
    { name: 'a slash', lines: `Host: ${good}/admin\r\n` },
    { name: 'userinfo @', lines: `Host: user@${good}\r\n` },
    { name: 'a space', lines: `Host: 127.0.0.1 evil.example\r\n` },
    { name: 'a quote', lines: `Host: "evil".example\r\n` },
    { name: 'angle brackets', lines: `Host: <script>\r\n` },
    { name: 'a non-numeric port', lines: `Host: 127.0.0.1:80x\r\n` },
    { name: 'an unclosed IPv6 literal', lines: `Host: [::1\r\n` },
    { name: 'brackets around a name', lines: `Host: [evil.example]\r\n` },
  ];

  for (const route of routes) {
    for (const bad of badHosts) {
      const answer = await rawRequest(port, route.request(bad.lines));
      const label = `${route.name}, ${bad.name}`;
      t.equal(answer.status, 400, `${label}: 400`);
      t.match(answer.head, /\r\nConnection: close/i, `${label}: Connection: close`);
      const body = JSON.parse(answer.body);
      if (route.fhir) {
        t.equal(body.resourceType, 'OperationOutcome', `${label}: an OperationOutcome`);
        t.match(body.issue[0].diagnostics, /Host/, `${label}: says it is the Host`);
      } else {
        t.equal(body.error, 'invalid_request', `${label}: a JSON error`);
        t.match(body.error_description, /Host/, `${label}: says it is the Host`);
      }
    }
  }
  t.same(upstream.received, [], 'nothing reached the upstream');

  // Well-formed Hosts pass: a name, an IPv4 address, an IPv6 literal, with or without a port.
  for (const host of [good, 'fhir.example.org', 'fhir.example.org:443', '[::1]', `[::1]:${port}`, 'xn--bcher-kva.example']) {
    const answer = await rawRequest(port, `GET /.well-known/smart-configuration HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    t.equal(answer.status, 200, `Host: ${host} is accepted`);
  }
  const read = await rawRequest(port, `GET /Patient?name=x HTTP/1.1\r\nHost: fhir.example.org:8443\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
  t.equal(read.status, 200, 'a FHIR read with a good Host is forwarded');
  t.equal(upstream.received.at(-1)?.headers['x-forwarded-host'], 'fhir.example.org:8443', 'its Host travels as X-Forwarded-Host');
});

t.test('a missing Host is 400 on HTTP/1.1; HTTP/1.0 may omit it', async (t) => {
  const { upstream, token, port } = await startHostGateway(t);
  for (const path of ['/Patient?name=x', '/oauth/token', '/.well-known/smart-configuration', '/healthz']) {
    const answer = await rawRequest(port, `GET ${path} HTTP/1.1\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    t.equal(answer.status, 400, `${path} without Host on HTTP/1.1: 400`);
    t.match(answer.head, /\r\nConnection: close/i, `${path}: Connection: close`);
  }
  t.same(upstream.received, [], 'nothing reached the upstream');
  const old = await rawRequest(port, `GET /.well-known/smart-configuration HTTP/1.0\r\n\r\n`);
  t.equal(old.status, 200, 'HTTP/1.0 without Host: answered');
});
