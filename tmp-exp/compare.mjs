import { fork } from 'node:child_process';
import { runLoad } from '../dist/bench/load.js';
import { startChild } from '../dist/bench/children.js';
const upstream = await startChild('upstream', 'upstream', []);
const variants = process.argv.slice(2);
const procs = {};
for (const v of variants) {
  const p = fork(new URL('./proxy-variants.mjs', import.meta.url).pathname, [v, upstream.url], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise((r) => p.stdout.once('data', (d) => r(JSON.parse(String(d)).port)));
  procs[v] = { p, port };
}
const cpu = (p) => new Promise((r) => { p.once('message', r); p.send('cpu'); });
const res = Object.fromEntries(variants.map((v) => [v, []]));
for (let round = 0; round < 5; round++) for (const v of variants) {
  const c0 = await cpu(procs[v].p);
  const out = await runLoad({ url: `http://127.0.0.1:${procs[v].port}`, path: '/fhir/Patient/example', connections: 50, warmupSeconds: 1, measureSeconds: 3 });
  const c1 = await cpu(procs[v].p);
  res[v].push({ rps: out.rps, us: (c1.user + c1.system - c0.user - c0.system) / out.totalResponses });
}
for (const v of variants) { const us = res[v].map((x) => x.us).sort((a, b) => a - b); const rps = res[v].map((x) => x.rps).sort((a, b) => a - b); console.log(v.padEnd(12), 'us/req min', us[0].toFixed(0), 'med', us[2].toFixed(0), 'rps med', rps[2]); }
for (const v of variants) procs[v].p.kill();
await upstream.stop();
