import t from 'tap';
import { runDemo } from '../../gateway/demo/run-demo.js';
import { freePort } from '../support/free-port.js';

/** `npm start` without a config: the demo must work as its printed walk-through says. */
t.test('the built-in demo serves its walk-through', async (t) => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const printed: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    printed.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  let demo;
  try {
    demo = await runDemo({ PORT: String(port), PUBLIC_URL: base });
  } finally {
    process.stdout.write = write;
  }
  t.teardown(() => demo.close());
  const text = printed.join('');
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
});
