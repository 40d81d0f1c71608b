import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startFhirUpstream } from '../../../gateway/demo/fhir-upstream.js';
import { freePort } from '../../support/free-port.js';
import { startGatewayProcess, waitFor } from '../../support/gateway-process.js';
import { clientToken } from '../../support/ops-helpers.js';
import { BACKEND_SECRET, baseRawConfig } from '../../support/stack.js';

/**
 * Issue #12.3: every log and audit line reaches its destination within 1 s at any traffic level
 * (here: one request and then silence), and everything buffered is written on SIGTERM, SIGINT
 * and a fatal error before the process exits.
 */

/** The CLI-started gateway before a FHIR upstream holding Patient/log1, auditing to `auditDestination`. */
async function startLoggingGateway(t: Test, auditDestination: string, nodeArgs: string[] = []) {
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 'log1' }] as never);
  const raw = baseRawConfig(await freePort(), upstream.baseUrl);
  raw.audit = { enabled: true, destination: auditDestination };
  return startGatewayProcess(t, { config: raw, nodeArgs });
}

async function oneRead(base: string, requestId: string): Promise<void> {
  const token = await clientToken(base, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const res = await fetch(`${base}/Patient/log1`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': requestId } });
  t.equal(res.status, 200);
  await res.arrayBuffer();
}

t.test('at low traffic a request line and its audit line appear within 1 s, with nobody else logging', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fhirgw-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const auditFile = join(dir, 'audit.jsonl');
  const gw = await startLoggingGateway(t, auditFile);
  await new Promise((resolve) => setTimeout(resolve, 500));

  const sent = Date.now();
  await oneRead(gw.url, 'quiet-read-1');
  await waitFor(() => gw.logs.some((l) => l.msg === 'request' && l.req_id === 'quiet-read-1'), 1_000, 'the request line on stdout within 1 s');
  const auditLines = () => {
    try {
      return readFileSync(auditFile, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  await waitFor(() => auditLines().some((l) => l.includes('quiet-read-1')), 1_000, 'the audit line in its file within 1 s');
  t.ok(Date.now() - sent < 2_000, 'both while the gateway keeps running, without a shutdown');
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal}: every buffered line is written before exit`, async (t) => {
    const gw = await startLoggingGateway(t, 'stdout');
    await oneRead(gw.url, `signal-${signal}`);
    // Straight away: the lines are most likely still in the buffer when the signal arrives.
    gw.kill(signal);
    t.same(await gw.exited, { code: 0, signal: null });
    t.ok(gw.logs.some((l) => l.msg === 'request' && l.req_id === `signal-${signal}`), 'the request line');
    t.ok(gw.logs.some((l) => l.log === 'audit' && l.request_id === `signal-${signal}`), 'the audit line');
    t.ok(gw.logs.some((l) => l.msg === 'stopped'), 'the last line');
  });
}

t.test('a fatal error: logged as fatal, buffered lines written, exit 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fhirgw-fatal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // An error no code catches, thrown inside the gateway process on demand (a file appearing).
  const trigger = join(dir, 'break-now');
  const breaker = join(dir, 'breaker.mjs');
  writeFileSync(
    breaker,
    `import { existsSync } from 'node:fs';\nconst timer = setInterval(() => { if (existsSync(${JSON.stringify(trigger)})) { clearInterval(timer); throw new Error('deliberately broken'); } }, 20);\ntimer.unref();\n`,
  );
  const gw = await startLoggingGateway(t, 'stdout', ['--import', breaker]);
  await oneRead(gw.url, 'before-fatal');
  writeFileSync(trigger, '');
  t.same(await gw.exited, { code: 1, signal: null }, 'exit code 1');
  const fatal = gw.logs.find((l) => l.level === 60);
  t.match(fatal, { msg: 'fatal error: exiting', err: { message: 'deliberately broken' } });
  t.ok(gw.logs.some((l) => l.msg === 'request' && l.req_id === 'before-fatal'), 'the request line before it');
  t.ok(gw.logs.some((l) => l.log === 'audit' && l.request_id === 'before-fatal'), 'and its audit line');
});
