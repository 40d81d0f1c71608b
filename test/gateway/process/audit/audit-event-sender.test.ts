import t, { type Test } from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { startFhirUpstream, type FhirUpstream } from '../../../../gateway/demo/fhir-upstream.js';
import { AuditEventSender, DEFAULT_AUDIT_QUEUE, type AuditEventSenderOptions, type AuditSenderHooks } from '../../../../gateway/process/audit/audit-event-sender.js';
import { auditSenderMetrics } from '../../../../gateway/process/audit/audit-metrics.js';
import { toBalpAuditEvent, type AuditDecision } from '../../../../gateway/process/audit/balp-audit-event.js';
import { MemoryStore } from '../../../../gateway/store/memory-store.js';
import { RedisStore } from '../../../../gateway/store/redis-store.js';
import type { QueueOperations } from '../../../../authz/store.js';
import { balpProblems, r4Problems } from '../../../support/balp-conformance.js';
import { freePort } from '../../../support/free-port.js';
import { startRedisServerFor, type TestRedisServer } from '../../../support/redis-server.js';
import { startScriptedUpstream } from '../../../support/scripted-upstream.js';

/**
 * The AuditEvent sender against real parts: the in-process Medplum FHIR server as the audit
 * endpoint (batch Bundles in, AuditEvents read back over its REST API), the embedded store and a
 * redis-server of the test's own.
 */

const PUBLIC_URL = 'https://fhir.example.org/fhir';
const INTERACTIONS: Partial<AuditDecision>[] = [
  {},
  { interaction: 'search-type', resource_id: undefined, query: '/Observation?patient=pat-1&code=8867-4' },
  { method: 'POST', interaction: 'create', resource_id: 'obs-new', status: 201 },
  { method: 'PUT', interaction: 'update' },
  { method: 'DELETE', interaction: 'delete', status: 204 },
  { decision: 'deny', status: 403, reason: 'insufficient scope' },
  { client_id: 'backend', sub: 'backend', fhirUser: undefined, patient: undefined, resource_type: 'Practitioner', resource_id: 'dr-1' },
  { decision: 'error', status: 502, reason: 'upstream error: ECONNRESET' },
];

/** The n-th test event; its X-Request-Id `req-n` tells it apart when read back. */
function auditEvent(n: number): AuditEvent {
  const decision: AuditDecision = {
    time: new Date(Date.UTC(2026, 2, 1, 10, 0, 0, n)).toISOString(),
    request_id: `req-${n}`,
    client_id: 'clinic-web-app',
    sub: 'alice',
    fhirUser: 'Practitioner/dr-alice',
    patient: 'pat-1',
    client_ip: '10.0.0.7',
    method: 'GET',
    interaction: 'read',
    resource_type: 'Observation',
    resource_id: `obs-${n}`,
    decision: 'allow',
    reason: 'granted',
    status: 200,
    latency_ms: 3,
    ...INTERACTIONS[n % INTERACTIONS.length],
  };
  return toBalpAuditEvent(decision, { publicUrl: PUBLIC_URL });
}

const requestIdOf = (event: AuditEvent) => event.entity?.find((e) => e.type?.code === 'XrequestId')?.what?.identifier?.value;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** AuditEvents stored on the endpoint, read back over its FHIR API. */
async function storedAuditEvents(baseUrl: string): Promise<AuditEvent[]> {
  const response = await fetch(`${baseUrl}/AuditEvent?_count=1000`, { headers: { accept: 'application/fhir+json' } });
  const bundle = (await response.json()) as Bundle<AuditEvent>;
  return (bundle.entry ?? []).map((entry) => entry.resource!);
}

const storedIds = async (baseUrl: string) => (await storedAuditEvents(baseUrl)).map(requestIdOf).sort(byNumber);
const byNumber = (a: string | undefined, b: string | undefined) => Number(a?.slice(4)) - Number(b?.slice(4));
const ids = (numbers: number[]) => numbers.map((n) => `req-${n}`);

async function waitFor(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(25);
  }
}

/** Counts every hook call, by reason. */
function countingHooks() {
  const counts = { sent: 0, failed: {} as Record<string, number>, dropped: {} as Record<string, number>, queueLength: -1 };
  const hooks: AuditSenderHooks = {
    sent: (n) => (counts.sent += n),
    failed: (n, reason) => (counts.failed[reason] = (counts.failed[reason] ?? 0) + n),
    dropped: (n, reason) => (counts.dropped[reason] = (counts.dropped[reason] ?? 0) + n),
    queueLength: (length) => (counts.queueLength = length),
  };
  return { counts, hooks };
}

function recordingLog() {
  const lines: { level: string; obj: object; msg: string }[] = [];
  return {
    lines,
    text: () => lines.map((line) => `${line.level} ${line.msg} ${JSON.stringify(line.obj)}`).join('\n'),
    info: (obj: object, msg: string) => void lines.push({ level: 'info', obj, msg }),
    warn: (obj: object, msg: string) => void lines.push({ level: 'warn', obj, msg }),
    error: (obj: object, msg: string) => void lines.push({ level: 'error', obj, msg }),
  };
}

type StoreKind = 'memory' | 'redis';

async function makeStore(t: Test, kind: StoreKind, redis?: TestRedisServer, prefix = 'audit-test:'): Promise<QueueOperations> {
  if (kind === 'memory') {
    const store = new MemoryStore();
    t.teardown(() => store.close());
    return store;
  }
  const server = redis ?? (await startRedisServerFor(t));
  const store = new RedisStore({ url: server.url, key_prefix: prefix });
  await store.connect();
  t.teardown(() => store.close());
  return store;
}

function makeSender(t: Test, options: Partial<AuditEventSenderOptions> & Pick<AuditEventSenderOptions, 'store' | 'url'>): AuditEventSender {
  const sender = new AuditEventSender({
    batchSize: 10,
    flushIntervalMs: 100,
    queueLimit: 1000,
    log: recordingLog(),
    requestTimeoutMs: 3_000,
    backoff: { initialMs: 50, maxMs: 200 },
    storeRetryMs: 100,
    ...options,
  });
  t.teardown(() => sender.stop(1_000));
  return sender;
}

async function startUpstream(t: Test, port?: number): Promise<FhirUpstream> {
  const upstream = await startFhirUpstream(port === undefined ? {} : { port });
  t.teardown(() => upstream.close());
  return upstream;
}

for (const kind of ['memory', 'redis'] as const) {
  t.test(`${kind} store`, async (t) => {
    t.test('AuditEvents land in the in-process Medplum as batch Bundles and read back as valid R4 / BALP AuditEvents', async (t) => {
      const upstream = await startUpstream(t);
      const { counts, hooks } = countingHooks();
      const sender = makeSender(t, { store: await makeStore(t, kind), url: upstream.baseUrl, batchSize: 10, hooks });
      sender.start();
      for (const n of range(0, 24)) sender.enqueue(auditEvent(n));

      await waitFor('25 AuditEvents stored', async () => (await storedAuditEvents(upstream.baseUrl)).length >= 25);
      const stored = await storedAuditEvents(upstream.baseUrl);
      t.same(stored.map(requestIdOf).sort(byNumber), ids(range(0, 24)), 'each one, once');
      for (const event of stored) {
        t.same(r4Problems(event), [], `${requestIdOf(event)} is a valid R4 AuditEvent`);
        t.same(balpProblems(event), [], `${requestIdOf(event)} meets the BALP profile it claims (${event.meta?.profile?.[0] ?? 'none'})`);
      }
      t.ok(stored.filter((event) => event.meta?.profile?.[0]?.includes('IHE.BasicAudit.')).length >= 15, 'most claim a BALP profile');
      const { id: _id, meta, ...storedFirst } = stored.find((event) => requestIdOf(event) === 'req-1')!;
      const { meta: sentMeta, ...sentFirst } = auditEvent(1);
      t.same(storedFirst, sentFirst, 'stored exactly as built');
      t.same(meta?.profile, sentMeta?.profile);

      const posts = upstream.received.filter((request) => request.method === 'POST');
      t.ok(posts.length >= 3, `sent in batches of at most 10 (${posts.length} POSTs)`);
      for (const post of posts) {
        t.equal(post.url, '/fhir', 'POSTed to the FHIR base');
        t.match(post.headers['content-type'], /^application\/fhir\+json/);
        const bundle = JSON.parse(post.body) as Bundle;
        t.equal(bundle.type, 'batch');
        t.ok(bundle.entry!.length <= 10);
        for (const entry of bundle.entry!) t.same(entry.request, { method: 'POST', url: 'AuditEvent' });
      }
      t.equal(counts.sent, 25);
      t.same(counts.dropped, {});
    });

    t.test('a down endpoint loses nothing within the bound: all arrive, once, when it comes up', async (t) => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/fhir`;
      const registry = new Registry();
      const log = recordingLog();
      const sender = makeSender(t, { store: await makeStore(t, kind), url, batchSize: 10, queueLimit: 100, hooks: auditSenderMetrics(registry), log });
      sender.start();
      for (const n of range(0, 29)) sender.enqueue(auditEvent(n));

      const failedEndpoint = async () => (await registry.getSingleMetric('fhirgw_audit_events_failed_total')!.get()).values.find((v) => v.labels.reason === 'endpoint')?.value ?? 0;
      await waitFor('three failed attempts (backing off)', async () => (await failedEndpoint()) >= 30);
      t.same(
        log.lines.filter((line) => line.level === 'warn').map((line) => line.msg),
        ['AuditEvent endpoint unavailable; AuditEvents stay queued and are sent when it is back'],
        'one line when the endpoint goes, not one per attempt',
      );
      t.match(log.lines[0]!.obj, { endpoint: `http://127.0.0.1:${port}`, reason: 'ECONNREFUSED' });

      const upstream = await startUpstream(t, port);
      await waitFor('30 AuditEvents stored', async () => (await storedAuditEvents(upstream.baseUrl)).length >= 30);
      await sleep(400); // several flush intervals: anything sent twice would show now
      t.same(await storedIds(upstream.baseUrl), ids(range(0, 29)), 'every one, exactly once');
      t.same(
        log.lines.map((line) => `${line.level} ${line.msg}`),
        ['warn AuditEvent endpoint unavailable; AuditEvents stay queued and are sent when it is back', 'info AuditEvent endpoint available again'],
      );

      const metrics = await registry.metrics();
      t.match(metrics, /^fhirgw_audit_events_sent_total 30$/m);
      t.notMatch(metrics, /^fhirgw_audit_events_dropped_total\{/m, 'nothing dropped');
      t.match(metrics, /^fhirgw_audit_queue_length \d+$/m);
    });

    t.test('overflow drops the oldest and counts them', async (t) => {
      const port = await freePort();
      const store = await makeStore(t, kind);
      const { counts, hooks } = countingHooks();
      const sender = makeSender(t, { store, url: `http://127.0.0.1:${port}/fhir`, batchSize: 5, queueLimit: 10, hooks });
      // Not started: the events wait in the store, as they would while the endpoint is down.
      for (const from of [0, 5, 10, 15, 20]) {
        for (const n of range(from, from + 4)) sender.enqueue(auditEvent(n));
        const dropped = Math.max(0, from + 5 - 10);
        await waitFor('the five are queued', () => counts.queueLength === Math.min(from + 5, 10) && (counts.dropped['queue_full'] ?? 0) === dropped);
      }
      t.same(counts.dropped, { queue_full: 15 }, 'the 15 oldest were pushed out by queue_limit');
      t.equal(await store.queueLength(DEFAULT_AUDIT_QUEUE), 10);

      const upstream = await startUpstream(t, port);
      sender.start();
      await waitFor('10 AuditEvents stored', async () => (await storedAuditEvents(upstream.baseUrl)).length >= 10);
      await sleep(300);
      t.same(await storedIds(upstream.baseUrl), ids(range(15, 24)), 'the newest ten arrive');
      t.equal(counts.sent, 10);

      sender.enqueue(auditEvent(100));
      for (let i = 0; i < 30; i++) sender.enqueue(auditEvent(200 + i));
      t.same(counts.dropped, { queue_full: 15, buffer_full: 21 }, 'a burst beyond the bound within one tick is trimmed before it reaches the store');
    });
  });
}

t.test('a full batch goes out at once; a partial one on the flush interval', async (t) => {
  const upstream = await startUpstream(t);
  const full = makeSender(t, { store: new MemoryStore(), url: upstream.baseUrl, batchSize: 5, flushIntervalMs: 60_000 });
  full.start();
  for (const n of range(0, 4)) full.enqueue(auditEvent(n));
  await waitFor('a full batch, long before the 60 s interval', async () => (await storedAuditEvents(upstream.baseUrl)).length === 5, 3_000);

  const partial = makeSender(t, { store: new MemoryStore(), url: upstream.baseUrl, batchSize: 50, flushIntervalMs: 400 });
  partial.start();
  const enqueuedAt = Date.now();
  for (const n of range(10, 12)) partial.enqueue(auditEvent(n));
  await sleep(100);
  t.equal((await storedAuditEvents(upstream.baseUrl)).length, 5, 'three of fifty: not sent at once');
  await waitFor('the partial batch, on the next tick', async () => (await storedAuditEvents(upstream.baseUrl)).length === 8, 3_000);
  t.ok(Date.now() - enqueuedAt >= 300, `after the flush interval (${Date.now() - enqueuedAt} ms)`);
});

t.test('the request path never waits: enqueue is synchronous while the endpoint hangs; stop() keeps its bound', async (t) => {
  const hung: ServerResponse[] = [];
  const hanging = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    hung.push(res); // never answered
  });
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    hanging.closeAllConnections();
    hanging.close();
  });
  const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/fhir`;
  const redis = await startRedisServerFor(t);
  const store = await makeStore(t, 'redis', redis, 'stop-test:');
  const sender = makeSender(t, { store, url, batchSize: 5, requestTimeoutMs: 30_000 });
  sender.start();
  for (const n of range(0, 4)) sender.enqueue(auditEvent(n));
  await waitFor('a send in flight', () => hung.length === 1);

  const started = process.hrtime.bigint();
  const results = range(5, 204).map((n) => sender.enqueue(auditEvent(n)));
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  t.ok(results.every((result) => result === undefined), 'enqueue returns nothing to wait for');
  t.ok(elapsedMs < 500, `200 enqueues took ${elapsedMs.toFixed(1)} ms with a send hanging`);

  const stopStarted = Date.now();
  const { remaining } = await sender.stop(300);
  t.ok(Date.now() - stopStarted < 2_000, `stop() kept close to its bound (${Date.now() - stopStarted} ms)`);
  t.equal(remaining, 205, 'the aborted batch went back to the queue; nothing was lost');
  sender.enqueue(auditEvent(999));

  const upstream = await startUpstream(t);
  const next = makeSender(t, { store: await makeStore(t, 'redis', redis, 'stop-test:'), url: upstream.baseUrl, batchSize: 50 });
  next.start();
  await waitFor('the next sender delivers what the stopped one left', async () => (await storedAuditEvents(upstream.baseUrl)).length >= 205);
  await sleep(300);
  t.same(await storedIds(upstream.baseUrl), ids(range(0, 204)), 'in full, once (the event enqueued after stop was not taken)');
});

t.test('a store outage: enqueue neither throws nor waits, the events wait in memory and arrive once the store is back', async (t) => {
  const redis = await startRedisServerFor(t);
  const upstream = await startUpstream(t);
  const { counts, hooks } = countingHooks();
  const store = await makeStore(t, 'redis', redis, 'outage:');
  const sender = makeSender(t, { store, url: upstream.baseUrl, batchSize: 5, hooks });
  sender.start();

  await redis.kill();
  for (const n of range(0, 11)) t.doesNotThrow(() => sender.enqueue(auditEvent(n)));
  await waitFor('the failed append is counted', () => (counts.failed['store'] ?? 0) >= 12);
  t.equal((await storedAuditEvents(upstream.baseUrl)).length, 0);

  await redis.restart();
  await waitFor('12 AuditEvents stored', async () => (await storedAuditEvents(upstream.baseUrl)).length >= 12, 15_000);
  await sleep(300);
  t.same(await storedIds(upstream.baseUrl), ids(range(0, 11)));
  t.same(counts.dropped, {});
});

t.test('two gateway instances on one Redis queue deliver every event exactly once', async (t) => {
  const redis = await startRedisServerFor(t);
  const upstream = await startUpstream(t);
  const a = makeSender(t, { store: await makeStore(t, 'redis', redis, 'shared:'), url: upstream.baseUrl, batchSize: 7, flushIntervalMs: 50 });
  const b = makeSender(t, { store: await makeStore(t, 'redis', redis, 'shared:'), url: upstream.baseUrl, batchSize: 7, flushIntervalMs: 50 });
  a.start();
  b.start();
  for (const n of range(0, 59)) (n % 2 === 0 ? a : b).enqueue(auditEvent(n));
  await waitFor('60 AuditEvents stored', async () => (await storedAuditEvents(upstream.baseUrl)).length >= 60);
  await sleep(300);
  t.same(await storedIds(upstream.baseUrl), ids(range(0, 59)));
});

t.test('per-entry answers: 2xx delivered, 5xx sent again, other 4xx dropped as rejected', async (t) => {
  const upstream = await startScriptedUpstream();
  t.teardown(() => upstream.close());
  const attempts = new Map<string, number>();
  upstream.script(({ method, url, body }) => {
    if (method !== 'POST' || url.pathname !== '/fhir') return undefined;
    const bundle = JSON.parse(body) as Bundle<AuditEvent>;
    return {
      status: 200,
      body: {
        resourceType: 'Bundle',
        type: 'batch-response',
        entry: bundle.entry!.map((entry) => {
          const id = requestIdOf(entry.resource!)!;
          const attempt = (attempts.get(id) ?? 0) + 1;
          attempts.set(id, attempt);
          if (id === 'req-1') return { response: { status: '400 Bad Request', outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'Patient/pat-1 secret detail' }] } } };
          if (id === 'req-2' && attempt === 1) return { response: { status: '503' } };
          return { response: { status: '201 Created', location: `AuditEvent/${id}` } };
        }),
      },
    };
  });
  const { counts, hooks } = countingHooks();
  const log = recordingLog();
  const sender = makeSender(t, { store: new MemoryStore(), url: upstream.baseUrl, batchSize: 3, hooks, log });
  sender.start();
  for (const n of range(0, 2)) sender.enqueue(auditEvent(n));
  await waitFor('req-2 sent again', () => attempts.get('req-2') === 2);
  await sleep(300);
  t.same(Object.fromEntries(attempts), { 'req-0': 1, 'req-1': 1, 'req-2': 2 }, 'the rejected one is not retried; the 503 one is, once');
  t.equal(counts.sent, 2);
  t.same(counts.dropped, { rejected: 1 });
  t.same(counts.failed, { endpoint: 1 });
  t.match(log.text(), /refused AuditEvents; they are dropped.*"status":400,"code":"invalid"/);
  t.notMatch(log.text(), /secret detail|pat-1/, 'what the server said about the event is not logged');
});

t.test('credentials come from authorize() and never reach the log; a failing authorize() keeps the events', async (t) => {
  const upstream = await startUpstream(t);
  let fail = true;
  const log = recordingLog();
  const { counts, hooks } = countingHooks();
  const sender = makeSender(t, {
    store: new MemoryStore(),
    url: upstream.baseUrl,
    batchSize: 2,
    log,
    hooks,
    authorize: async () => {
      if (fail) throw new Error('token endpoint down: client_secret=s3cr3t');
      return { authorization: 'Bearer audit-token-s3cr3t', 'x-api-key': 'k3y-s3cr3t' };
    },
  });
  sender.start();
  sender.enqueue(auditEvent(0));
  sender.enqueue(auditEvent(1));
  await waitFor('a failed attempt', () => (counts.failed['endpoint'] ?? 0) >= 2);
  fail = false;
  await waitFor('both stored', async () => (await storedAuditEvents(upstream.baseUrl)).length === 2);
  const post = upstream.received.find((request) => request.method === 'POST')!;
  t.equal(post.headers['authorization'], 'Bearer audit-token-s3cr3t');
  t.equal(post.headers['x-api-key'], 'k3y-s3cr3t');
  t.notMatch(log.text(), /s3cr3t/, 'no credential or error text with one in the log');
  t.match(log.text(), /AuditEvent endpoint unavailable/);
});

t.test('a 401 tells the token source which credentials were refused, and the batch goes again at once with new ones', async (t) => {
  const upstream = await startScriptedUpstream();
  t.teardown(() => upstream.close());
  const seen: string[] = [];
  upstream.script(({ method, url }) => {
    if (method !== 'POST' || url.pathname !== '/fhir') return undefined;
    const authorization = upstream.received.at(-1)?.headers['authorization'];
    seen.push(String(authorization));
    return authorization === 'Bearer token-2' ? undefined : { status: 401, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] } };
  });
  let current = 1;
  const refused: Readonly<Record<string, string>>[] = [];
  const log = recordingLog();
  const { counts, hooks } = countingHooks();
  const sender = makeSender(t, {
    store: new MemoryStore(),
    url: upstream.baseUrl,
    log,
    hooks,
    authorize: async () => ({ authorization: `Bearer token-${current}` }),
    refused: (rejected) => {
      refused.push(rejected);
      current += 1;
    },
  });
  sender.start();
  sender.enqueue(auditEvent(0));
  await waitFor('stored with the new token', async () => (await storedAuditEvents(upstream.baseUrl)).length === 1);
  t.same(refused, [{ authorization: 'Bearer token-1' }], 'refused() named the token the endpoint refused');
  t.same(seen, ['Bearer token-1', 'Bearer token-2']);
  t.same(counts.failed, {}, 'a renewed token is no failed delivery');
  t.equal(log.lines.length, 0, 'and nothing to log');
});

t.test('without a token source (fixed credentials) a 401 is a failed delivery, retried with backoff', async (t) => {
  const upstream = await startScriptedUpstream();
  t.teardown(() => upstream.close());
  let refuse = true;
  let posts = 0;
  upstream.script(({ method, url }) => {
    if (method !== 'POST' || url.pathname !== '/fhir') return undefined;
    posts += 1;
    return refuse ? { status: 401, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] } } : undefined;
  });
  const log = recordingLog();
  const { counts, hooks } = countingHooks();
  const sender = makeSender(t, { store: new MemoryStore(), url: upstream.baseUrl, log, hooks, authorize: async () => ({ 'x-api-key': 'k' }) });
  sender.start();
  sender.enqueue(auditEvent(0));
  await waitFor('a refused attempt', () => (counts.failed['endpoint'] ?? 0) >= 1);
  t.equal(posts, 1, 'no immediate second POST: the same key would be refused again');
  t.match(log.lines.find((line) => line.level === 'error')?.msg, /refuses every batch \(HTTP 401\)/);
  refuse = false;
  await waitFor('stored after the backoff', async () => (await storedAuditEvents(upstream.baseUrl)).length === 1);
});

t.test('a batch refused for good (404: wrong url) is kept and retried, and said once as an error naming the keys', async (t) => {
  const upstream = await startScriptedUpstream();
  t.teardown(() => upstream.close());
  let posts = 0;
  let refuse = true;
  upstream.script(({ method, url }) => {
    if (method !== 'POST' || url.pathname !== '/fhir') return undefined;
    posts += 1;
    return refuse ? { status: 404, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] } } : undefined;
  });
  const log = recordingLog();
  const { counts, hooks } = countingHooks();
  const sender = makeSender(t, { store: new MemoryStore(), url: upstream.baseUrl, log, hooks });
  sender.start();
  sender.enqueue(auditEvent(0));
  await waitFor('three refused attempts', () => posts >= 3);
  const errors = log.lines.filter((line) => line.level === 'error');
  t.equal(errors.length, 1, 'one error line, not one per attempt');
  t.match(errors[0]!.msg, /refuses every batch \(HTTP 404\).*audit\.fhir\.url.*audit\.fhir\.auth/);
  t.notOk(counts.dropped['rejected'], 'nothing dropped: the events wait');
  refuse = false;
  await waitFor('stored once the endpoint takes it', async () => (await storedAuditEvents(upstream.baseUrl)).length === 1);
  t.equal(counts.sent, 1);
});

t.test('a batch refused as too large (413) halves the batch size until it fits', async (t) => {
  const upstream = await startScriptedUpstream();
  t.teardown(() => upstream.close());
  const batchSizes: number[] = [];
  upstream.script(({ method, url, body }) => {
    if (method !== 'POST' || url.pathname !== '/fhir') return undefined;
    const entries = (JSON.parse(body) as Bundle).entry!;
    batchSizes.push(entries.length);
    if (entries.length > 2) return { status: 413, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'too-costly' }] } };
    return undefined; // the real server stores them
  });
  const log = recordingLog();
  const sender = makeSender(t, { store: new MemoryStore(), url: upstream.baseUrl, batchSize: 8, log });
  for (const n of range(0, 5)) sender.enqueue(auditEvent(n));
  await sleep(50);
  sender.start();
  await waitFor('all six stored', async () => (await storedAuditEvents(upstream.baseUrl)).length === 6);
  t.same(batchSizes, [6, 4, 2, 2, 2], '8 (6 waiting) -> 4 -> 2');
  t.same(await storedIds(upstream.baseUrl), ids(range(0, 5)));
  t.equal(log.lines.filter((line) => /smaller batches/.test(line.msg)).length, 2);
});

t.test('bad options are refused', async (t) => {
  const base = { store: new MemoryStore(), url: 'http://127.0.0.1:1/fhir', batchSize: 10, flushIntervalMs: 1000, queueLimit: 100, log: recordingLog() };
  t.throws(() => new AuditEventSender({ ...base, batchSize: 0 }), RangeError);
  t.throws(() => new AuditEventSender({ ...base, queueLimit: 1.5 }), RangeError);
  t.throws(() => new AuditEventSender({ ...base, flushIntervalMs: 0 }), RangeError);
});
