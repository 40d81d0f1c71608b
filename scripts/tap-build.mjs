// Rebuilds tap's Test class before the run when it still loads a plugin package.json excludes
// ("!@tapjs/typescript"). tap notices the mismatch itself, but only after its runner has loaded
// the stale build, so on the first run after `npm install` every test process would still get
// that plugin's loader (ts-node beside tsx): measured on a clean clone, 745 s for the suite
// against 514 s once built.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = join(dirname(new URL(import.meta.url).pathname), '..');
const excluded = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).tap?.plugin ?? [])
  .filter((p) => p.startsWith('!'))
  .map((p) => p.slice(1));
const built = readFileSync(join(root, 'node_modules/@tapjs/test/test-built/dist/esm/index.js'), 'utf8');
const stale = excluded.filter((plugin) => built.includes(`'${plugin}'`) || built.includes(`"${plugin}"`));
if (stale.length > 0) {
  console.error(`tap: rebuilding without ${stale.join(', ')}`);
  execFileSync(process.execPath, [join(root, 'node_modules/tap/dist/esm/run.mjs'), 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}
