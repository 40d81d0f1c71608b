import t from 'tap';
import { spawn } from 'node:child_process';
import { Agent as HttpsAgent, createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Pool } from 'undici';
import type { UpstreamTlsConfig } from '../../../config/types.js';
import { readUpstreamFiles } from '../../../config/upstream-files.js';
import { describeTlsFailure, tlsConnector, upstreamTls, type TlsProblem } from '../../../gateway/upstream/tls.js';
import { freePort } from '../../support/free-port.js';
import { makeTestPki, type IssuedCertificate } from '../../support/test-pki.js';

/**
 * An https upstream with a CA made in the test that requires a client certificate, reached with
 * the options tls.ts builds from upstream.tls: through undici (the undici forwarder) and node's
 * https.Agent (the http-proxy forwarder). The right files work; each certificate problem fails
 * with its name.
 */

const pki = makeTestPki(t);
const upstreamCa = pki.ca('upstream-ca');
const otherCa = pki.ca('other-ca');
const serverCert = upstreamCa.server('fhir-upstream', ['fhir.internal', '127.0.0.1']);
const expiredServerCert = upstreamCa.server('fhir-upstream-expired', ['fhir.internal', '127.0.0.1'], { expired: true });
const gatewayClient = upstreamCa.client('fhir-gateway');
const foreignClient = otherCa.client('somebody-else');

/** An https server that, like a hospital's FHIR server behind mTLS, only talks to clients with a certificate from its CA. */
async function startMtlsUpstream(cert: IssuedCertificate): Promise<{ origin: string; clients: string[] }> {
  const clients: string[] = [];
  const server = createServer({ cert: cert.cert, key: cert.key, ca: upstreamCa.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    clients.push((req.socket as TLSSocket).getPeerCertificate().subject.CN as string);
    res.writeHead(200, { 'content-type': 'application/fhir+json' });
    res.end(JSON.stringify({ resourceType: 'CapabilityStatement', status: 'active' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { origin: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, clients };
}

/** upstream.tls -> the options, through the same file reading the config loader does. */
function tlsFor(config: UpstreamTlsConfig, log?: { warn(obj: object, msg: string): void }) {
  const { files, problems } = readUpstreamFiles({ url: 'https://fhir.internal/fhir', timeout: 5, max_sockets: 1, forwarder: 'undici', tls: config });
  if (problems.length > 0) throw new Error(JSON.stringify(problems));
  return upstreamTls(config, files.tls, log);
}

type Outcome = { status: number } | { problem: TlsProblem | undefined; message: string | undefined; code: unknown };

async function viaUndici(origin: string, config: UpstreamTlsConfig): Promise<Outcome> {
  const pool = new Pool(origin, { connect: tlsConnector(tlsFor(config).connect) });
  try {
    const answer = await pool.request({ path: '/fhir/metadata', method: 'GET' });
    await answer.body.dump();
    return { status: answer.statusCode };
  } catch (err) {
    const failure = describeTlsFailure(err);
    return { problem: failure?.problem, message: failure?.message, code: (err as { code?: unknown }).code };
  } finally {
    await pool.close();
  }
}

async function viaHttpsAgent(origin: string, config: UpstreamTlsConfig): Promise<Outcome> {
  const agent = new HttpsAgent({ ...tlsFor(config).agentOptions, keepAlive: false });
  try {
    return await new Promise<Outcome>((resolve) => {
      const req = httpsRequest(`${origin}/fhir/metadata`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      });
      req.on('error', (err) => {
        const failure = describeTlsFailure(err);
        resolve({ problem: failure?.problem, message: failure?.message, code: (err as { code?: unknown }).code });
      });
      req.end();
    });
  } finally {
    agent.destroy();
  }
}

const rightFiles: UpstreamTlsConfig = { ca_file: upstreamCa.certFile, cert_file: gatewayClient.certFile, key_file: gatewayClient.keyFile, allow_insecure: false };

for (const [client, via] of [
  ['undici', viaUndici],
  ['https.Agent', viaHttpsAgent],
] as const) {
  t.test(`${client}: mTLS with a private CA`, async (t) => {
    const upstream = await startMtlsUpstream(serverCert);
    const expired = await startMtlsUpstream(expiredServerCert);

    t.same(await via(upstream.origin, rightFiles), { status: 200 }, 'the right CA, client certificate and key work');
    t.equal(upstream.clients.at(-1), 'fhir-gateway', 'the upstream saw the gateway\'s client certificate');

    t.same(
      await via(upstream.origin.replace('127.0.0.1', 'localhost'), { ...rightFiles, server_name: 'fhir.internal' }),
      { status: 200 },
      'server_name: the certificate is checked against that name, not the host connected to',
    );

    t.match(await via(upstream.origin, { ...rightFiles, ca_file: otherCa.certFile }), { problem: 'unknown_ca', message: /not signed by a trusted CA \(unknown CA/ }, 'wrong CA');
    t.match(
      await via(upstream.origin, { ca_file: upstreamCa.certFile, allow_insecure: false }),
      { problem: 'client_certificate_refused', message: /refused the gateway's client certificate \(client certificate refused, ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\)/ },
      'missing client certificate',
    );
    t.match(await via(expired.origin, rightFiles), { problem: 'expired', message: /certificate has expired/ }, 'expired server certificate');
    t.match(
      await via(upstream.origin, { ...rightFiles, server_name: 'other.internal' }),
      { problem: 'name_mismatch', message: /does not match its name \(name mismatch.*other\.internal/ },
      'name mismatch',
    );
    const { ca_file: _ca, ...withoutCa } = rightFiles;
    t.match(await via(upstream.origin, withoutCa), { problem: 'unknown_ca' }, 'no ca_file: the system CAs do not know a private CA');
    t.equal(upstream.clients.length, 2, 'only the two good connections reached the upstream');
  });
}

t.test('a client certificate from another CA, refused by an OpenSSL server with an alert', async (t) => {
  const port = await freePort();
  const server = spawn(
    'openssl',
    ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', serverCert.certFile, '-key', serverCert.keyFile, '-CAfile', upstreamCa.certFile, '-Verify', '1', '-verify_return_error', '-www'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => {
    server.kill();
  });
  await new Promise<void>((resolve, reject) => {
    server.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ACCEPT')) resolve();
    });
    server.once('exit', () => reject(new Error('openssl s_server exited')));
  });
  const origin = `https://127.0.0.1:${port}`;
  t.same(await viaUndici(origin, rightFiles), { status: 200 }, 'the gateway\'s certificate is accepted');
  t.match(
    await viaUndici(origin, { ...rightFiles, cert_file: foreignClient.certFile, key_file: foreignClient.keyFile }),
    { problem: 'client_certificate_refused', message: /ERR_SSL_TLSV1_ALERT_UNKNOWN_CA/ },
    'another CA\'s client certificate: refused, and said so',
  );
});

t.test('allow_insecure: no verification, and one warning at start', async (t) => {
  const upstream = await startMtlsUpstream(expiredServerCert);
  const warnings: string[] = [];
  const tls = tlsFor({ cert_file: gatewayClient.certFile, key_file: gatewayClient.keyFile, allow_insecure: true }, { warn: (_obj, msg) => warnings.push(msg) });
  t.equal(tls.insecure, true);
  t.equal(warnings.length, 1);
  t.match(warnings[0], /NOT verified \(upstream\.tls\.allow_insecure: true\).*tests only/);
  const pool = new Pool(upstream.origin, { connect: tlsConnector(tls.connect) });
  const answer = await pool.request({ path: '/', method: 'GET' });
  await answer.body.dump();
  t.equal(answer.statusCode, 200, 'an expired certificate from an unknown CA is accepted');
  await pool.close();
  tlsFor(rightFiles, { warn: (_obj, msg) => warnings.push(msg) });
  t.equal(warnings.length, 1, 'no warning when verification is on');
});

t.test('token endpoints trust the system CAs plus ca_file, and never get server_name', async (t) => {
  const tls = tlsFor({ ...rightFiles, server_name: 'fhir.internal' });
  t.equal(tls.connect.servername, 'fhir.internal');
  t.equal(tls.connect.ca, upstreamCa.cert, 'the upstream: only the private CA');
  t.equal(tls.tokenEndpointConnect.servername, undefined);
  t.ok(Array.isArray(tls.tokenEndpointConnect.ca) && tls.tokenEndpointConnect.ca.includes(upstreamCa.cert) && tls.tokenEndpointConnect.ca.length > 1);
  t.equal(tls.tokenEndpointConnect.cert, gatewayClient.cert, 'the client certificate goes along (RFC 8705)');
  t.same(upstreamTls(undefined, {}).connect, { rejectUnauthorized: true }, 'no tls section: system CAs, verification on');
});

t.test('describeTlsFailure: non-TLS errors are not TLS failures; codes on a cause are found', async (t) => {
  t.equal(describeTlsFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), undefined);
  t.equal(describeTlsFailure(undefined), undefined);
  t.match(describeTlsFailure(new Error('fetch failed', { cause: Object.assign(new Error('x'), { code: 'CERT_HAS_EXPIRED' }) }), 'the token endpoint'), {
    problem: 'expired',
    message: /^the token endpoint's certificate has expired/,
  });
});
