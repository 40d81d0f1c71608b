import { spawn } from 'node:child_process';
import t from 'tap';
import { freePort } from '../support/free-port.js';
import { waitFor } from '../support/gateway-process.js';

const BIN = new URL('../../bin/fhir-gateway.js', import.meta.url).pathname;

/**
 * `npm start` without a config: the compiled CLI (`node bin/fhir-gateway.js demo`, which runs
 * dist/) must work as its printed walk-through says.
 */
t.test('the built-in demo, compiled, serves its walk-through', async (t) => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [BIN, 'demo'], { env: { PATH: process.env.PATH, PORT: String(port), PUBLIC_URL: base }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  await waitFor(() => /oauth\/authorize\?\S+\n/.test(text), 30_000, `the demo printed its walk-through:\n${text}`);
  t.match(text, `curl -s -u demo-backend:demo-secret -d grant_type=client_credentials ${base}/oauth/token`, 'prints a copy-pasteable token command');

  const tokenRes = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { authorization: 'Basic ' + Buffer.from('demo-backend:demo-secret').toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  t.equal(tokenRes.status, 200);
  const { access_token } = await tokenRes.json();
  const patients = await fetch(`${base}/Patient`, { headers: { authorization: `Bearer ${access_token}` } });
  t.equal(patients.status, 200);
  const bundle = await patients.json();
  t.equal(bundle.entry.length, 3, 'three seeded patients');
  t.ok(bundle.entry.every((e: { fullUrl: string }) => e.fullUrl.startsWith(base + '/Patient/')), 'fullUrls point at the gateway, not the embedded upstream');
  t.equal((await fetch(`${base}/Patient`)).status, 401, 'no token, no data');
  const authorize = await fetch(text.match(/(http:\/\/\S+\/oauth\/authorize\?\S+)/)![1]!, { redirect: 'manual' });
  t.equal(authorize.status, 200, 'the printed authorize URL opens the login page');
  t.match(await authorize.text(), /name="username"/);

  t.match(text, `curl -s -u demo-ehr:demo-ehr-secret -d client_id=demo-app -d patient=pat-bob ${base}/oauth/launch`, 'prints an EHR launch');
  const launch = await fetch(`${base}/oauth/launch`, {
    method: 'POST',
    headers: { authorization: 'Basic ' + Buffer.from('demo-ehr:demo-ehr-secret').toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'client_id=demo-app&patient=pat-bob',
  });
  t.equal(launch.status, 201, 'the demo EHR creates a launch for the demo app');
  const { launch_url } = await launch.json();
  t.match(launch_url, /^http:\/\/localhost:3000\/launch\?iss=.*&launch=[A-Za-z0-9_-]{43}$/);
  const launched = text.match(/(http:\/\/\S+\/oauth\/authorize\?\S+&launch=)PASTE_LAUNCH/)![1]! + new URL(launch_url).searchParams.get('launch');
  const ehrLogin = await fetch(launched, { redirect: 'manual' });
  t.equal(ehrLogin.status, 200, 'the printed EHR-launch authorize URL, with the launch value, opens the login page');
});
