import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { startFhirUpstream, type FhirUpstream } from '../../../../gateway/demo/fhir-upstream.js';
import { freePort } from '../../../support/free-port.js';
import { startGatewayProcess, waitFor, type GatewayProcess } from '../../../support/gateway-process.js';
import { clientToken, metricValue } from '../../../support/ops-helpers.js';
import { startRedisServerFor } from '../../../support/redis-server.js';
import { BACKEND_SECRET, baseRawConfig } from '../../../support/stack.js';

/**
 * Issue 13, item 1, delivery, through the CLI-started gateway: an audit endpoint that hangs or is
 * down never slows a proxied request and loses nothing within audit.fhir.queue_limit; beyond it
 * the oldest are dropped and counted; SIGTERM sends what is queued, and with Redis what could not
 * be sent waits for the next start.
 */


/** What docs/audit-events.md promises, checked first so the page and the behaviour cannot drift apart unnoticed. */
const DOC = readFileSync(new URL('../../../../docs/audit-events.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
const promises = (t: Test, ...sentences: string[]) => {
  for (const sentence of sentences) t.ok(DOC.includes(sentence), `docs/audit-events.md says: "${sentence}"`);
};

/** The audit endpoint's port, in one of three states: a real FHIR server, a server that never answers, nothing. */
class AuditEndpointPort {
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

async function storedRequestIds(fhir: FhirUpstream): Promise<string[]> {
  const response = await fetch(`${fhir.baseUrl}/AuditEvent?_count=1000`, { headers: { accept: 'application/fhir+json' } });
  const bundle = (await response.json()) as Bundle<AuditEvent>;
  return (bundle.entry ?? []).map((entry) => entry.resource!.entity?.find((e) => e.type?.code === 'XrequestId')?.what?.identifier?.value ?? '?');
}

async function gatewayWithAudit(t: Test, endpoint: AuditEndpointPort, fhir: Record<string, unknown>, storeUrl?: string): Promise<{ gw: GatewayProcess; upstream: FhirUpstream; read: (id: string) => Promise<number> }> {
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

const metricsOf = async (gw: GatewayProcess) => (await fetch(`${gw.adminUrl}/metrics`)).text();
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

t.test('an endpoint that hangs, then is down: requests keep their latency, and every AuditEvent arrives once it is back', async (t) => {
  const redis = await startRedisServerFor(t);
  promises(t, 'the request never waits for the store or the audit server', 'A down endpoint loses nothing within the bound.');
  const endpoint = new AuditEndpointPort(await freePort());
  await endpoint.up(t);
  const { gw, read } = await gatewayWithAudit(t, endpoint, { batch_size: 5, flush_interval: '1s' }, redis.url);

  const baseline: number[] = [];
  for (const id of ids('up', 10)) baseline.push(await read(id));

  await endpoint.hang();
  const hanging: number[] = [];
  for (const id of ids('hang', 15)) hanging.push(await read(id));
  // A send is in flight to the hanging server by now (5 events reached the batch size at once).
  await endpoint.down();
  const down: number[] = [];
  for (const id of ids('down', 10)) down.push(await read(id));

  const summary = `medians: up ${median(baseline).toFixed(1)} ms, hanging ${median(hanging).toFixed(1)} ms, down ${median(down).toFixed(1)} ms`;
  t.ok(Math.max(...hanging, ...down) < 2_000, `no proxied request waits for the audit endpoint (slowest ${Math.max(...hanging, ...down).toFixed(0)} ms; ${summary})`);
  const whileDown = await metricsOf(gw);
  t.ok(metricValue(whileDown, 'fhirgw_audit_events_failed_total', { reason: 'endpoint' }) >= 5, 'the failed sends are counted');
  t.ok(metricValue(whileDown, 'fhirgw_audit_queue_length') > 0, 'and the queue holds the events');

  const fhir = await endpoint.up(t);
  const expected = [...ids('up', 10), ...ids('hang', 15), ...ids('down', 10)];
  let stored: string[] = [];
  await waitFor(async () => (stored = await storedRequestIds(fhir)).length >= 25, 30_000, 'the queued AuditEvents to arrive');
  // The first 10 went to the endpoint before it hung (stopped with it); the rest were queued.
  await waitFor(async () => {
    const all = new Set([...stored, ...(await storedRequestIds(fhir))]);
    return expected.slice(10).every((id) => all.has(id));
  }, 10_000, 'every queued one');
  stored = await storedRequestIds(fhir);
  t.same([...new Set(stored)].filter((id) => id.startsWith('hang') || id.startsWith('down')).sort(), expected.slice(10).sort(), 'every AuditEvent of the outage arrived');
  t.equal(stored.length, new Set(stored).size, 'each once');

  const after = await metricsOf(gw);
  t.equal(metricValue(after, 'fhirgw_audit_events_dropped_total'), 0, 'nothing dropped');
  t.ok(metricValue(after, 'fhirgw_audit_events_sent_total') >= 35, 'all 35 counted as sent');
  await gw.stop();
  t.equal(gw.logs.filter((l) => l.msg === 'AuditEvent endpoint unavailable; AuditEvents stay queued and are sent when it is back').length, 1, 'the outage logged once');
  t.ok(gw.logs.some((l) => l.msg === 'AuditEvent endpoint available again'), 'and its end');
});

t.test('overflow: beyond queue_limit the oldest are dropped and counted; the newest arrive', async (t) => {
  promises(t, 'Only when more than `queue_limit` AuditEvents wait are the oldest dropped');
  const endpoint = new AuditEndpointPort(await freePort());
  const { gw, read } = await gatewayWithAudit(t, endpoint, { batch_size: 5, queue_limit: 5, flush_interval: '1s' });
  const sent = ids('ovf', 12);
  for (const id of sent) await read(id);
  const metrics = await metricsOf(gw);
  const dropped = metricValue(metrics, 'fhirgw_audit_events_dropped_total', { reason: 'queue_full' });
  t.ok(dropped >= 6, `the oldest pushed out by the bound are counted (${dropped})`);

  const fhir = await endpoint.up(t);
  let stored: string[] = [];
  await waitFor(async () => (stored = await storedRequestIds(fhir)).includes('ovf-11'), 30_000, 'the newest to arrive');
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  stored = await storedRequestIds(fhir);
  const arrived = sent.filter((id) => stored.includes(id));
  t.same(arrived, sent.slice(sent.length - arrived.length), `what arrived is the newest, in a row (${arrived.join(', ')})`);
  t.ok(arrived.length >= 5, 'at least queue_limit of them');
  t.equal(arrived.length + dropped, 12, 'every AuditEvent either arrived or was counted as dropped');
  t.equal(metricValue(await metricsOf(gw), 'fhirgw_audit_events_dropped_total'), dropped, 'and no other drop');
});

t.test('SIGTERM sends what is queued before the process exits', async (t) => {
  const endpoint = new AuditEndpointPort(await freePort());
  const fhir = await endpoint.up(t);
  // A flush interval far beyond the test: only the shutdown sends them.
  const { gw, read } = await gatewayWithAudit(t, endpoint, { batch_size: 50, flush_interval: '1h' });
  for (const id of ids('term', 3)) await read(id);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.same(await storedRequestIds(fhir), [], 'nothing sent yet');
  gw.kill('SIGTERM');
  t.same(await gw.exited, { code: 0, signal: null });
  t.same((await storedRequestIds(fhir)).sort(), ids('term', 3), 'all three arrived before the exit');
});

t.test('with Redis, what could not be sent at SIGTERM waits in the store and the next start sends it', async (t) => {
  const redis = await startRedisServerFor(t);
  const endpoint = new AuditEndpointPort(await freePort());
  const first = await gatewayWithAudit(t, endpoint, { batch_size: 50, flush_interval: '1h' }, redis.url);
  for (const id of ids('kept', 4)) await first.read(id);
  first.gw.kill('SIGTERM');
  t.same(await first.gw.exited, { code: 0, signal: null });
  t.ok(first.gw.logs.some((l) => l.msg === 'AuditEvents still queued at stop; they stay in the store for the next sender' && l.queued === 4), 'the stop says 4 wait in the store');

  const fhir = await endpoint.up(t);
  const second = await gatewayWithAudit(t, endpoint, { batch_size: 50, flush_interval: '1s' }, redis.url);
  let stored: string[] = [];
  await waitFor(async () => (stored = await storedRequestIds(fhir)).length >= 4, 20_000, 'the next gateway to send them');
  t.same(stored.sort(), ids('kept', 4), 'the four from before the restart, once each');
  await second.gw.stop();
});
