import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyPassword } from '../../../authz/oauth/users/password-hash.js';

const BIN = new URL('../../../bin/fhir-gateway.js', import.meta.url).pathname;

function run(args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(options.stdin ?? '');
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'fhirgw-cli-'));

t.test('an invalid config stops the process with exit code 2 and one line per problem', async (t) => {
  const file = join(dir, 'broken.yaml');
  writeFileSync(
    file,
    `server: { public_url: "http://localhost:8080", prot: 1 }
upstream: { timeout: soon }
clients:
  - client_id: backend
    client_secret: \${BACKEND_SECRET}
    token_endpoint_auth_method: basic
    scope: "system/Patient.rs"
`,
  );
  const { code, stderr } = await run(['--config', file]);
  t.equal(code, 2);
  t.match(stderr, `${file}: server.prot: unknown key`);
  t.match(stderr, `${file}: upstream.url: required key is missing`);
  t.match(stderr, `${file}: upstream.timeout: expected a duration like 30s, 5m, 1h or 30d`);
  t.match(stderr, `${file}: clients[0].token_endpoint_auth_method: expected one of client_secret_basic, client_secret_post, private_key_jwt, none`);
  t.match(stderr, `${file}: clients[0].client_secret: environment variable BACKEND_SECRET is not set`);
  t.notMatch(stderr, /\n\s+at /, 'no stack trace');
});

t.test('FHIR_GATEWAY_CONFIG names the file too; a missing file is a clear error', async (t) => {
  const { code, stderr } = await run([], { env: { FHIR_GATEWAY_CONFIG: join(dir, 'absent.yaml') } });
  t.equal(code, 2);
  t.match(stderr, 'absent.yaml');
});

t.test('hash-password prints a PHC scrypt hash of stdin', async (t) => {
  const { code, stdout } = await run(['hash-password'], { stdin: 'correct horse battery staple\n' });
  t.equal(code, 0);
  const hash = stdout.trim();
  t.match(hash, /^\$scrypt\$/);
  t.ok(await verifyPassword('correct horse battery staple', hash), 'the hash verifies the password');
  t.notOk(await verifyPassword('wrong', hash));
});

t.test('hash-password with empty stdin is a usage error', async (t) => {
  const { code, stderr } = await run(['hash-password'], { stdin: '' });
  t.equal(code, 2);
  t.match(stderr, 'no password');
});
