import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
// @ts-expect-error -- a plain .mjs script without type declarations
import { findLayerViolations } from '../scripts/import-layers.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const violations = findLayerViolations as (root: string) => string[];

t.test('every import runs downward: config <- authz <- gateway, smart/ and tokens/ free of the server', async (t) => {
  t.same(violations(ROOT), []);
});

t.test('the check sees an upward import', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'layers-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  write('config/types.ts', "import { x } from '../authz/store.js';\n");
  write('authz/store.ts', "export const x = 1;\nimport type { Y } from '../gateway/server.js';\n");
  write('authz/smart/decide.ts', "import { z } from '../oauth/paths.js';\nimport { w } from './scopes.js';\n");
  write('authz/smart/scopes.ts', 'export const w = 1;\n');
  write('authz/tokens/keys.ts', "import { v } from '../oauth/routes.js';\n");
  write('gateway/server.ts', "import { x } from '../authz/store.js';\nimport { c } from '../config/types.js';\nconst later = await import('../test/x.js');\n");
  t.same(violations(root), [
    'config/types.ts: imports authz/store.ts (a file under config/ may import only config/)',
    'authz/smart/decide.ts: imports authz/oauth/paths.ts (a file under authz/smart/ may import only config/, authz/smart/)',
    'authz/store.ts: imports gateway/server.ts (a file under authz/ may import only config/, authz/)',
    'authz/tokens/keys.ts: imports authz/oauth/routes.ts (a file under authz/tokens/ may import only config/, authz/smart/, authz/crypto/, authz/store.ts, authz/tokens/)',
    'gateway/server.ts: imports ../test/x.js, outside the source folders',
  ]);
});
