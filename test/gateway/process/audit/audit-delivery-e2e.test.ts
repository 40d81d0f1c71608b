import t from 'tap';
import { AuditEndpointPort, gatewayWithAudit, ids, median, metricsOf, storedRequestIds } from '../../../support/audit-endpoint-port.js';
import { docPromises } from '../../../support/doc-promises.js';
import { freePort } from '../../../support/free-port.js';
import { waitFor } from '../../../support/gateway-process.js';
import { metricValue } from '../../../support/ops-helpers.js';
import { startRedisServerFor } from '../../../support/redis-server.js';

/**
 * Issue 13, item 1, delivery, through the CLI-started gateway: an audit endpoint that hangs or is
 * down never slows a proxied request and loses nothing within audit.fhir.queue_limit; beyond it
 * the oldest are dropped and counted. (Stopping: audit-shutdown-e2e.test.ts.)
 */

const promises = docPromises('docs/audit-events.md');

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
  // The hanging send fails when its timeout runs out, or when the connection drops: wait for it.
  let whileDown = await metricsOf(gw);
  await waitFor(
    async () => metricValue((whileDown = await metricsOf(gw)), 'fhirgw_audit_events_failed_total', { reason: 'endpoint' }) >= 5,
    15_000,
    'a failed send of a batch (5 events) counted',
  );
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
