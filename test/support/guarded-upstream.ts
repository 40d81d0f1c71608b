import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { request } from 'undici';
import { startFhirUpstream, type FhirUpstream } from '../../gateway/demo/fhir-upstream.js';

/**
 * The in-process Medplum FHIR server behind a check, as a managed FHIR service is: a request
 * passes only when `accept` says its headers carry a valid credential; otherwise 401 with a
 * Bearer challenge. Tokens can be revoked at the upstream, which then refuses them (the way a
 * real server does after a key rotation or a revocation).
 */

export interface GuardedUpstream {
  /** `http://127.0.0.1:port/fhir`, like FhirUpstream's. */
  baseUrl: string;
  fhir: FhirUpstream;
  /** Headers of every request that reached the check, accepted or not. */
  seen: IncomingHttpHeaders[];
  /** Requests answered 401. */
  refusals(): number;
  /** From now on, refuse requests whose Authorization is exactly this. */
  revoke(authorization: string): void;
  close(): Promise<void>;
}

export async function startGuardedUpstream(t: Test, accept: (headers: IncomingHttpHeaders) => Promise<boolean>): Promise<GuardedUpstream> {
  const fhir = await startFhirUpstream();
  const revoked = new Set<string>();
  const seen: IncomingHttpHeaders[] = [];
  let refusals = 0;

  const server = createServer((req, res) => {
    seen.push({ ...req.headers });
    const authorization = req.headers.authorization;
    const check = authorization !== undefined && revoked.has(authorization) ? Promise.resolve(false) : accept(req.headers).catch(() => false);
    check
      .then(async (ok) => {
        if (!ok) {
          refusals++;
          res.writeHead(401, { 'www-authenticate': 'Bearer realm="fhir", error="invalid_token"', 'content-type': 'application/fhir+json' });
          res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] }));
          return;
        }
        const answer = await request(`${new URL(fhir.baseUrl).origin}${req.url ?? '/'}`, { method: (req.method ?? 'GET') as 'GET', body: req.method === 'GET' || req.method === 'HEAD' ? null : req });
        res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'application/fhir+json') });
        res.end(Buffer.from(await answer.body.arrayBuffer()));
      })
      .catch(() => {
        res.writeHead(500);
        res.end();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
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
    refusals: () => refusals,
    revoke: (authorization) => revoked.add(authorization),
    close,
  };
}
