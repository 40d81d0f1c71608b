import t from 'tap';
import { AuditEndpointPort, gatewayWithAudit, ids, storedRequestIds } from '../../../support/audit-endpoint-port.js';
import { docPromises } from '../../../support/doc-promises.js';
import { freePort } from '../../../support/free-port.js';
import { waitFor } from '../../../support/gateway-process.js';
import { startRedisServerFor } from '../../../support/redis-server.js';

/**
 * Issue 13, item 1, stopping, through the CLI-started gateway: SIGTERM sends what is queued before
 * the process exits, and with Redis what could not be sent waits in the store for the next start.
 */

const promises = docPromises('docs/audit-events.md');

t.test('SIGTERM sends what is queued before the process exits', async (t) => {
  promises(t, 'once the last request has drained, the gateway sends what is queued with what is left of `server.shutdown_grace`');
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
