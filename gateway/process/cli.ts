import { ConfigError, loadConfigFile, resolveConfigPath } from '../../config/loader.js';
import { hashPassword } from '../../authz/oauth/users/password-hash.js';
import { runDemo } from '../demo/run-demo.js';
import { runGateway } from './run-gateway.js';

const USAGE = `Usage:
  fhir-gateway --config FILE       run the gateway (or set FHIR_GATEWAY_CONFIG=FILE)
  fhir-gateway demo                run the built-in demo (also: no config given)
  fhir-gateway hash-password       read a password on stdin, print its hash for users[].password_hash
`;

/** Exit codes: 0 ok, 1 runtime failure, 2 configuration or usage error. */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number | undefined> {
  const [command] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === 'hash-password') {
    const password = (await readStdin()).replace(/\r?\n$/, '');
    if (password.length === 0) {
      process.stderr.write('hash-password: no password on stdin\n');
      return 2;
    }
    process.stdout.write((await hashPassword(password)) + '\n');
    return 0;
  }
  let configPath: string | undefined;
  try {
    configPath = resolveConfigPath(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) return reportConfigError(err);
    throw err;
  }
  if (command === 'demo' || configPath === undefined) {
    if (command !== undefined && command !== 'demo') {
      process.stderr.write(`Unknown argument ${command}\n${USAGE}`);
      return 2;
    }
    const demo = await runDemo(env);
    onShutdown(() => demo.close());
    return undefined;
  }

  let config;
  try {
    config = loadConfigFile(configPath, env);
  } catch (err) {
    if (err instanceof ConfigError) return reportConfigError(err);
    throw err;
  }
  try {
    await runGateway(configPath, config, env);
  } catch (err) {
    // A file the config names that became unusable between loading and starting (upstream.tls,
    // upstream.auth). Exits at once: the store may already be trying to connect.
    if (err instanceof ConfigError) process.exit(reportConfigError(err));
    throw err;
  }
  return undefined;
}

function reportConfigError(err: ConfigError): number {
  process.stderr.write(`Configuration is invalid; the gateway did not start:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
  return 2;
}

function onShutdown(close: () => Promise<void>): void {
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fhir-gateway failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
