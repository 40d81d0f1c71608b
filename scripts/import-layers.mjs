#!/usr/bin/env node
// The layer rule, checked over every import of our own source: dependencies run only downward,
// config/ <- authz/ <- gateway/, and inside authz/ the pure FHIR decision (smart/) and the token
// format (tokens/) stay free of the authorization server. `npm test` runs this through
// test/layers.test.ts; run it alone with `node scripts/import-layers.mjs`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Most specific first: the first rule whose `from` prefix matches a file applies to it. */
export const LAYER_RULES = [
  { from: 'config/', may: ['config/'] },
  { from: 'authz/smart/', may: ['config/', 'authz/smart/'] },
  { from: 'authz/crypto/', may: ['config/', 'authz/crypto/', 'authz/store.ts'] },
  { from: 'authz/tokens/', may: ['config/', 'authz/smart/', 'authz/crypto/', 'authz/store.ts', 'authz/tokens/'] },
  { from: 'authz/', may: ['config/', 'authz/'] },
  { from: 'gateway/', may: ['config/', 'authz/', 'gateway/'] },
];
const SOURCE_ROOTS = ['config', 'authz', 'gateway'];
const IMPORT = /(?:^|[\s;])(?:import|export)\s(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

function sourceFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Every import that breaks the rules, as `file: imports target (allowed: ...)`. */
export function findLayerViolations(root) {
  const problems = [];
  for (const top of SOURCE_ROOTS) {
    let files;
    try {
      files = sourceFiles(join(root, top));
    } catch {
      continue;
    }
    for (const file of files) {
      const from = relative(root, file).split(sep).join('/');
      const rule = LAYER_RULES.find((r) => from.startsWith(r.from));
      if (!rule) continue;
      for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const spec = match[1] ?? match[2];
        if (!spec.startsWith('.')) continue;
        const target = relative(root, resolve(dirname(file), spec)).split(sep).join('/').replace(/\.js$/, '.ts');
        if (target.startsWith('..') || !SOURCE_ROOTS.some((r) => target.startsWith(`${r}/`))) {
          problems.push(`${from}: imports ${spec}, outside the source folders`);
          continue;
        }
        if (!rule.may.some((prefix) => target.startsWith(prefix))) {
          problems.push(`${from}: imports ${target} (a file under ${rule.from} may import only ${rule.may.join(', ')})`);
        }
      }
    }
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const problems = findLayerViolations(root);
  for (const p of problems) console.error(p);
  console.log(problems.length === 0 ? 'layers: every import runs downward' : `layers: ${problems.length} import(s) run upward`);
  process.exit(problems.length === 0 ? 0 : 1);
}
