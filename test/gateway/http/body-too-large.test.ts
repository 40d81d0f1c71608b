import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import t, { type Test } from 'tap';
import { LINGERING_CLOSE } from '../../../authz/lingering-close.js';
import { startFhirUpstream, type FhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { FORWARDERS, startUpstreamGateway, type UpstreamGateway } from '../../support/upstream-gateway.js';

/**
 * Issue 12, item 4: a body over the limit is answered 413 and the client, still sending (no
 * `Expect: 100-continue`, as Node's http client, fetch and most SDKs), reads that answer rather
 * than EPIPE or a reset: the gateway says `Connection: close` and reads and discards the rest
 * within bounds (authz/lingering-close.ts) before closing. Nothing reaches the upstream.
 */

const FHIR_LIMIT = 1024 * 1024; // proxy.max_buffered_body
const OAUTH_LIMIT = 1024; // server.max_body_bytes
const SENT = 8 * 1024 * 1024; // far beyond both limits, well within the lingering byte bound of the test's client

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * Node's http client sending `total` bytes of `chunk` repeated, with a Content-Length or chunked,
 * writing as fast as the connection takes them; resolves with the answer once read.
 */
function postLarge(base: string, path: string, headers: Record<string, string>, total: number, framing: 'content-length' | 'chunked'): Promise<Answer> {
  const target = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: target.hostname, port: target.port, method: 'POST', path, headers: { ...headers, ...(framing === 'content-length' ? { 'content-length': String(total) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    // Once the answer is read the client stops sending: an error after it is not the test's concern.
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, ' ');
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    req.write('{"resourceType":"Bundle","type":"batch","entry":[');
    pump();
  });
}

async function startGateway(t: Test, upstream: FhirUpstream, forwarder: (typeof FORWARDERS)[number]): Promise<UpstreamGateway> {
  return startUpstreamGateway(t, {
    upstream: { url: upstream.baseUrl },
    forwarder,
    edit: (raw) => {
      raw.proxy = { max_buffered_body: FHIR_LIMIT };
      raw.server.max_body_bytes = OAUTH_LIMIT;
    },
  });
}

for (const forwarder of FORWARDERS) {
  t.test(`${forwarder}: a client still sending a too-large Bundle reads the 413 OperationOutcome`, async (t) => {
    const upstream = await startFhirUpstream();
    t.teardown(() => upstream.close());
    const gateway = await startGateway(t, upstream, forwarder);
    const token = await gateway.mint({ sub: 'svc', scope: 'system/*.cruds' });
    for (const framing of ['content-length', 'chunked'] as const) {
      const answer = await postLarge(gateway.gw.url, '/', { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' }, SENT, framing);
      t.equal(answer.status, 413, `${framing}: 413`);
      t.equal(answer.headers.connection, 'close', `${framing}: the connection closes after the answer`);
      const outcome = JSON.parse(answer.text);
      t.equal(outcome.resourceType, 'OperationOutcome', `${framing}: an OperationOutcome`);
      t.match(outcome.issue[0].diagnostics, /max_buffered_body/, `${framing}: says which limit`);
      t.same(upstream.received, [], `${framing}: nothing reached the upstream`);
    }
  });
}

t.test('the OAuth endpoints: a client still sending a too-large form reads the 413 JSON error', async (t) => {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  const gateway = await startGateway(t, upstream, 'undici');
  for (const path of ['/oauth/token', '/oauth/introspect']) {
    for (const framing of ['content-length', 'chunked'] as const) {
      const answer = await postLarge(gateway.gw.url, path, { 'content-type': 'application/x-www-form-urlencoded' }, SENT, framing);
      t.equal(answer.status, 413, `${path} ${framing}: 413`);
      t.equal(answer.headers.connection, 'close', `${path} ${framing}: the connection closes after the answer`);
      t.equal(answer.headers['cache-control'], 'no-store', `${path} ${framing}: an RFC 6749 error`);
      t.equal(JSON.parse(answer.text).error, 'invalid_request', `${path} ${framing}: invalid_request`);
    }
  }
  t.same(upstream.received, [], 'nothing reached the upstream');
});

/**
 * A raw client that never stops sending (chunks of `chunkBytes` every `everyMs`) and reads what
 * comes back; resolves when the gateway closes the connection, with what was read and how long
 * the connection lasted after the answer arrived.
 */
function sendForever(port: number, head: string, chunkBytes: number, everyMs: number): Promise<{ read: string; lingeredMs: number }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let read = '';
    let answeredAt: number | undefined;
    const chunk = `${chunkBytes.toString(16)}\r\n${' '.repeat(chunkBytes)}\r\n`;
    const timer = setInterval(() => socket.write(chunk), everyMs);
    socket.write(head);
    socket.on('data', (data: Buffer) => {
      answeredAt ??= Date.now();
      read += data.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ read, lingeredMs: Date.now() - (answeredAt ?? Date.now()) });
    });
  });
}

t.test('a client that never stops sending is cut off once the lingering bounds are reached', async (t) => {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  const gateway = await startGateway(t, upstream, 'undici');
  const token = await gateway.mint({ sub: 'svc', scope: 'system/*.cruds' });
  const head = (path: string, type: string, auth = '') =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${gateway.gw.port}\r\nContent-Type: ${type}\r\n${auth}Transfer-Encoding: chunked\r\n\r\n`;
  const margin = 10_000;

  // Slowly (about 1 MB/s): the time bound ends it.
  const slow = await sendForever(gateway.gw.port, head('/', 'application/fhir+json', `Authorization: Bearer ${token}\r\n`), 64 * 1024, 50);
  t.match(slow.read, /^HTTP\/1\.1 413 /, 'FHIR, slow: the 413 was read first');
  t.match(slow.read, /OperationOutcome/, 'FHIR, slow: with its OperationOutcome');
  t.ok(slow.lingeredMs < LINGERING_CLOSE.ms + margin, `FHIR, slow: closed ${slow.lingeredMs} ms after the answer (bound ${LINGERING_CLOSE.ms} ms)`);

  // As fast as it can: the byte bound ends it, well before the time bound.
  const fast = await sendForever(gateway.gw.port, head('/oauth/token', 'application/x-www-form-urlencoded'), 256 * 1024, 1);
  t.match(fast.read, /^HTTP\/1\.1 413 /, 'OAuth, fast: the 413 was read first');
  t.match(fast.read, /invalid_request/, 'OAuth, fast: with its error');
  t.ok(fast.lingeredMs < LINGERING_CLOSE.ms + margin, `OAuth, fast: closed ${fast.lingeredMs} ms after the answer`);
  t.same(upstream.received, [], 'nothing reached the upstream');
});
