#!/usr/bin/env node
// Compiles the TypeScript to dist/ (what bin/ and the Docker image run: no transpiler at run
// time) and copies the files the compiled code reads beside it. `--all` also compiles tests and
// bench (one type-check of everything; tap runs this before the tests).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const all = process.argv.includes('--all');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(join(root, 'dist'), { recursive: true, force: true });
try {
  execFileSync(process.execPath, [tsc, '-p', join(root, all ? 'tsconfig.json' : 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
} catch {
  console.error('build failed: see the TypeScript errors above');
  process.exit(1);
}
// The demo reads its config file relative to the compiled module.
mkdirSync(join(root, 'dist/config/examples'), { recursive: true });
cpSync(join(root, 'config/examples'), join(root, 'dist/config/examples'), { recursive: true });
