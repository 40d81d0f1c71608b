import type { Test } from 'tap';
import { createServer, type Socket } from 'node:net';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { startFhirUpstream, type FhirUpstream } from '../../gateway/demo/fhir-upstream.js';
import { freePort } from './free-port.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { clientToken } from './ops-helpers.js';
import { BACKEND_SECRET, baseRawConfig } from './stack.js';

/**
 * An AuditEvent endpoint whose state a test switches (a real FHIR server, a server that never
 * answers, nothing), and a CLI-started gateway sending AuditEvents to it.
 */

/** The audit endpoint's port, in one of three states: a real FHIR server, a server that never answers, nothing. */
export class AuditEndpointPort {
  private fhir: FhirUpstream | undefined;
  private hanging: { close(): Promise<void> } | undefined;

  constructor(readonly port: number) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/fhir`;
  }

  async up(t: Test): Promise<FhirUpstream> {
    await this.down();
    this.fhir = await startFhirUpstream({ port: this.port });
    const fhir = this.fhir;
    t.teardown(() => fhir.close());
    return fhir;
  }

  /** Accepts connections and reads the request, never answers. */
  async hang(): Promise<void> {
    await this.down();
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.hanging = {
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    };
  }

  /** Nothing listens: connections are refused. */
  async down(): Promise<void> {
    await this.fhir?.close();
    await this.hanging?.close();
    this.fhir = undefined;
    this.hanging = undefined;
  }
}

/** The X-Request-Id of every AuditEvent stored on `fhir`. */
export async function storedRequestIds(fhir: FhirUpstream): Promise<string[]> {
  const response = await fetch(`${fhir.baseUrl}/AuditEvent?_count=1000`, { headers: { accept: 'application/fhir+json' } });
  const bundle = (await response.json()) as Bundle<AuditEvent>;
  return (bundle.entry ?? []).map((entry) => entry.resource!.entity?.find((e) => e.type?.code === 'XrequestId')?.what?.identifier?.value ?? '?');
}

/** A CLI-started gateway (admin port, 3 s shutdown grace) with audit.fhir towards `endpoint`, and a timed read through it. */
export async function gatewayWithAudit(t: Test, endpoint: AuditEndpointPort, fhir: Record<string, unknown>, storeUrl?: string): Promise<{ gw: GatewayProcess; upstream: FhirUpstream; read: (id: string) => Promise<number> }> {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'd1' }] as never);
  const raw = baseRawConfig(await freePort(), upstream.baseUrl, storeUrl);
  raw.server.admin_port = await freePort();
  raw.server.shutdown_grace = '3s';
  raw.audit = { enabled: false, fhir: { url: endpoint.baseUrl, ...fhir } };
  const gw = await startGatewayProcess(t, { config: raw });
  const token = await clientToken(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const read = async (id: string) => {
    const started = performance.now();
    const res = await fetch(`${gw.url}/Patient/d1`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': id } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`read ${id}: ${res.status}`);
    return performance.now() - started;
  };
  return { gw, upstream, read };
}

export const metricsOf = async (gw: GatewayProcess) => (await fetch(`${gw.adminUrl}/metrics`)).text();
export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
export const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
