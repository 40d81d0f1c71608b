// tap's `before` step: compile everything (sources, tests, bench) once, so a type error anywhere
// fails the run, and the tests that start the gateway as an operator does run the compiled CLI.
process.argv.push('--all');
await import('./build.mjs');
