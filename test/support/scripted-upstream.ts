import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFhirUpstream, type FhirUpstream, type ReceivedRequest } from '../../gateway/demo/fhir-upstream.js';

/** A canned answer for requests the in-memory Medplum server cannot give (paging links, compartments). */
export type Script = (request: { method: string; url: URL; body: string; baseUrl: string }) => { status: number; body: unknown; headers?: Record<string, string> } | undefined;

export interface ScriptedUpstream extends FhirUpstream {
  /** Answers matching requests from the script instead of the real server (first match wins). */
  script(handler: Script): void;
}

/**
 * The in-process Medplum FHIR server behind a front that can answer chosen requests itself:
 * paging links of any kind (Medplum's memory repository emits none), compartment searches,
 * or an upstream that misbehaves (returns another patient's data) to prove the gateway's
 * response checks. Everything else is passed to the real server. `received` records every
 * request the front got, like FhirUpstream's.
 */
export async function startScriptedUpstream(): Promise<ScriptedUpstream> {
  const real = await startFhirUpstream();
  const realBase = new URL(real.baseUrl);
  const scripts: Script[] = [];
  const received: ReceivedRequest[] = [];
  let baseUrl = '';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: body.toString('utf8') });
      const url = new URL(req.url ?? '/', baseUrl);
      for (const script of scripts) {
        const answer = script({ method: req.method ?? 'GET', url, body: body.toString('utf8'), baseUrl });
        if (answer) {
          res.writeHead(answer.status, { 'content-type': 'application/fhir+json; charset=utf-8', ...answer.headers });
          res.end(JSON.stringify(answer.body));
          return;
        }
      }
      const headers = { ...req.headers, host: realBase.host };
      const upstreamReq = httpRequest({ host: realBase.hostname, port: realBase.port, method: req.method, path: req.url, headers }, (upstreamRes) => {
        // The real server writes its own base into links; a front must show its own.
        const parts: Buffer[] = [];
        upstreamRes.on('data', (c: Buffer) => parts.push(c));
        upstreamRes.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8').split(real.baseUrl).join(baseUrl);
          const outHeaders = { ...upstreamRes.headers };
          delete outHeaders['content-length'];
          if (typeof outHeaders.location === 'string') outHeaders.location = outHeaders.location.replace(real.baseUrl, baseUrl);
          res.writeHead(upstreamRes.statusCode ?? 502, outHeaders);
          res.end(text);
        });
      });
      upstreamReq.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      upstreamReq.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
  return {
    server,
    baseUrl,
    repo: real.repo,
    received,
    seed: (resources) => real.seed(resources),
    script(handler) {
      scripts.push(handler);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await real.close();
    },
  };
}
