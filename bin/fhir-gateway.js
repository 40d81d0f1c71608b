#!/usr/bin/env node
// Runs the compiled gateway (npm run build writes dist/): production carries no transpiler.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/gateway/process/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('fhir-gateway: dist/ is missing; run `npm run build` first\n');
  process.exit(1);
}
await import(cli.href);
