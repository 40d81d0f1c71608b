import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Test } from 'tap';
import { request } from 'undici';
import { startFhirUpstream, type FhirUpstream } from '../../gateway/demo/fhir-upstream.js';

/**
 * The in-process Medplum FHIR server behind a check, as a managed FHIR service is: a request
 * passes only when `accept` says its headers carry a valid credential; otherwise 401 with a
 * Bearer challenge. Tokens can be revoked at the upstream, which then refuses them (the way a
 * real server does after a key rotation or a revocation).
 *
 * With `tls`, the check listens on https with that certificate and, with `ca`, requires a client
 * certificate issued by it (a hospital FHIR server behind mTLS); the client certificate's
 * subject CN is recorded with each request.
 */

export interface GuardedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The answer's status: 401 when the check refused it. */
  status: number;
  /** The client certificate's subject CN (https with `ca` only). */
  clientCertificate?: string;
}

export interface GuardedUpstreamOptions {
  /** Serve https with this certificate; `ca` makes a client certificate from that CA required. */
  tls?: { cert: string; key: string; ca?: string };
}

export interface GuardedUpstream {
  /** `http(s)://127.0.0.1:port/fhir`, like FhirUpstream's. */
  baseUrl: string;
  fhir: FhirUpstream;
  /** Headers of every request that reached the check, accepted or not. */
  seen: IncomingHttpHeaders[];
  /** Every request that reached the check, in order, once answered. */
  requests: GuardedRequest[];
  /** Requests answered 401. */
  refusals(): number;
  /** From now on, refuse requests whose Authorization is exactly this. */
  revoke(authorization: string): void;
  /** While true, every request is refused (an upstream that accepts no credential at all). */
  refuseAll(refuse: boolean): void;
  close(): Promise<void>;
}

export async function startGuardedUpstream(t: Test, accept: (headers: IncomingHttpHeaders) => Promise<boolean>, options: GuardedUpstreamOptions = {}): Promise<GuardedUpstream> {
  const fhir = await startFhirUpstream();
  const revoked = new Set<string>();
  const seen: IncomingHttpHeaders[] = [];
  const requests: GuardedRequest[] = [];
  let refusals = 0;
  let refusingAll = false;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    seen.push({ ...req.headers });
    const socket = req.socket as Partial<TLSSocket>;
    const clientCertificate = options.tls?.ca !== undefined ? (socket.getPeerCertificate?.().subject?.CN as string | undefined) : undefined;
    const record = (status: number) =>
      requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers }, status, ...(clientCertificate !== undefined ? { clientCertificate } : {}) });
    const authorization = req.headers.authorization;
    const check =
      refusingAll || (authorization !== undefined && revoked.has(authorization)) ? Promise.resolve(false) : accept(req.headers).catch(() => false);
    check
      .then(async (ok) => {
        if (!ok) {
          refusals++;
          record(401);
          req.resume();
          res.writeHead(401, { 'www-authenticate': 'Bearer realm="fhir", error="invalid_token"', 'content-type': 'application/fhir+json' });
          res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] }));
          return;
        }
        const answer = await request(`${new URL(fhir.baseUrl).origin}${req.url ?? '/'}`, {
          method: (req.method ?? 'GET') as 'GET',
          headers: req.headers['content-type'] !== undefined ? { 'content-type': req.headers['content-type'] } : {},
          body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
        });
        record(answer.statusCode);
        res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'application/fhir+json') });
        res.end(Buffer.from(await answer.body.arrayBuffer()));
      })
      .catch(() => {
        res.writeHead(500);
        res.end();
      });
  };
  const tls = options.tls;
  const server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca !== undefined ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, handle)
    : createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await fhir.close();
  };
  t.teardown(close);
  return {
    baseUrl,
    fhir,
    seen,
    requests,
    refusals: () => refusals,
    revoke: (authorization) => revoked.add(authorization),
    refuseAll: (refuse) => {
      refusingAll = refuse;
    },
    close,
  };
}
