import t from 'tap';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfigFile, parseConfig } from '../../config/loader.js';
import { DEFAULT_ADMIN_HOST, LOGIN_PROTECTION_DEFAULTS } from '../../config/schema.js';

/** Issue 13's keys: audit.fhir, login_protection, server.admin_port / admin_host. */

const EXAMPLE = fileURLToPath(new URL('../../config/examples/gateway.yaml', import.meta.url));

const BASE = `
server:
  public_url: https://gw.example.org/fhir
  port: 8080
upstream:
  url: http://fhir.internal/fhir
`;

const load = (extra: string) => parseConfig(BASE + extra, 'gateway.yaml', {});

function problemsOf(extra: string): string[] {
  try {
    load(extra);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError, but none was thrown');
}

/** Puts `lines` (YAML mapping entries) under `server:` instead of at the top level. */
const serverWith = (lines: string) => parseConfig(BASE.replace('  port: 8080\n', `  port: 8080\n${lines}`), 'gateway.yaml', {});
function serverProblems(lines: string): string[] {
  try {
    serverWith(lines);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError, but none was thrown');
}

t.test('a file without the new keys loads to what it always did', async (t) => {
  const config = load('');
  t.equal(config.login_protection, undefined, 'the code applies LOGIN_PROTECTION_DEFAULTS');
  t.same(config.audit, { enabled: true, destination: 'stdout' }, 'no audit.fhir: no AuditEvents');
  t.notOk('admin_port' in config.server);
  t.notOk('admin_host' in config.server);
});

t.test('login_protection', async (t) => {
  t.test('the defaults are the values the gateway has always used', async (t) => {
    t.same(LOGIN_PROTECTION_DEFAULTS, { max_failures_per_username: 5, max_failures_per_ip: 20, failure_window: 900, lockout: 900 });
    t.ok(Object.isFrozen(LOGIN_PROTECTION_DEFAULTS));
  });

  t.test('a present section is filled key by key, durations read as seconds', async (t) => {
    t.same(load('login_protection: {}\n').login_protection, LOGIN_PROTECTION_DEFAULTS);
    t.same(load('login_protection:\n  max_failures_per_username: 3\n  lockout: 1h\n').login_protection, {
      max_failures_per_username: 3,
      max_failures_per_ip: 20,
      failure_window: 900,
      lockout: 3600,
    });
    t.same(
      parseConfig(BASE + 'login_protection:\n  max_failures_per_ip: ${IP_LIMIT}\n  failure_window: 90\n', 'gateway.yaml', { IP_LIMIT: '50' }).login_protection,
      { max_failures_per_username: 5, max_failures_per_ip: 50, failure_window: 90, lockout: 900 },
      'a whole-value variable becomes a number; a bare integer is seconds',
    );
  });

  t.test('bad values name the key and what was expected', async (t) => {
    t.same(problemsOf('login_protection:\n  max_failures_per_username: 0\n'), [
      'gateway.yaml: login_protection.max_failures_per_username: expected at least 1 (got 0)',
    ]);
    t.same(problemsOf('login_protection:\n  max_failures_per_ip: 2.5\n'), ['gateway.yaml: login_protection.max_failures_per_ip: expected an integer (got 2.5)']);
    t.same(problemsOf('login_protection:\n  failure_window: soon\n'), [
      'gateway.yaml: login_protection.failure_window: expected a duration like 30s, 5m, 1h or 30d (got "soon")',
    ]);
    t.same(problemsOf('login_protection:\n  lockout: 0s\n  failure_window: 0\n'), [
      'gateway.yaml: login_protection.failure_window: expected a duration of at least 1s (got 0)',
      'gateway.yaml: login_protection.lockout: expected a duration of at least 1s (got 0)',
    ]);
    t.same(problemsOf('login_protection:\n  max_failures: 3\n'), [
      'gateway.yaml: login_protection.max_failures: unknown key (allowed: max_failures_per_username, max_failures_per_ip, failure_window, lockout)',
    ]);
    t.same(problemsOf('login_protection: 5\n'), ['gateway.yaml: login_protection: expected a mapping (got 5)']);
  });
});

t.test('audit.fhir', async (t) => {
  t.test('only url is required; the rest has documented defaults', async (t) => {
    const config = load('audit:\n  fhir:\n    url: https://audit.internal/fhir\n');
    t.same(config.audit, {
      enabled: true,
      destination: 'stdout',
      fhir: { url: 'https://audit.internal/fhir', batch_size: 50, flush_interval: 5, queue_limit: 10000 },
    });
  });

  t.test('every key set', async (t) => {
    const config = load('audit:\n  enabled: false\n  fhir:\n    url: http://fhir.internal/fhir\n    batch_size: 200\n    flush_interval: 1m\n    queue_limit: 500000\n');
    t.same(config.audit, {
      enabled: false,
      destination: 'stdout',
      fhir: { url: 'http://fhir.internal/fhir', batch_size: 200, flush_interval: 60, queue_limit: 500000 },
    });
  });

  t.test('bad values name the key and what was expected', async (t) => {
    t.same(problemsOf('audit:\n  fhir: {}\n'), ['gateway.yaml: audit.fhir.url: required key is missing']);
    t.same(problemsOf('audit:\n  fhir:\n    url: ftp://audit.internal/fhir\n'), [
      'gateway.yaml: audit.fhir.url: expected an absolute http(s) URL without query or fragment (got "ftp://audit.internal/fhir")',
    ]);
    t.same(problemsOf('audit:\n  fhir:\n    url: https://audit.internal/fhir?tenant=1\n'), [
      'gateway.yaml: audit.fhir.url: expected an absolute http(s) URL without query or fragment (got "https://audit.internal/fhir?tenant=1")',
    ]);
    t.same(problemsOf('audit:\n  fhir:\n    url: https://a.example/fhir\n    batch_size: 0\n'), ['gateway.yaml: audit.fhir.batch_size: expected at least 1 (got 0)']);
    t.same(problemsOf('audit:\n  fhir:\n    url: https://a.example/fhir\n    batch_size: 5000\n'), [
      'gateway.yaml: audit.fhir.batch_size: expected at most 1000 (got 5000)',
    ]);
    t.same(problemsOf('audit:\n  fhir:\n    url: https://a.example/fhir\n    flush_interval: 0s\n'), [
      'gateway.yaml: audit.fhir.flush_interval: expected a duration of at least 1s (got 0)',
    ]);
    t.same(problemsOf('audit:\n  fhir:\n    url: https://a.example/fhir\n    batch_size: 100\n    queue_limit: 99\n'), [
      'gateway.yaml: audit.fhir.queue_limit: expected at least batch_size (100) (got 99)',
    ]);
    t.same(problemsOf('audit:\n  fhir:\n    url: https://a.example/fhir\n    batchsize: 10\n'), [
      'gateway.yaml: audit.fhir.batchsize: unknown key (allowed: url, batch_size, flush_interval, queue_limit, auth)',
    ]);
    t.same(problemsOf('audit:\n  fhir: https://a.example/fhir\n'), ['gateway.yaml: audit.fhir: expected a mapping (got "https://a.example/fhir")']);
  });
});

t.test('audit.fhir.auth: the forms of upstream.auth, its rules and files named under audit.fhir.auth', async (t) => {
  const withAuth = (auth: string) => `audit:\n  fhir:\n    url: https://audit.internal/fhir\n    auth:\n${auth}`;

  t.test('absent: not filled in (the gateway picks the upstream’s or none)', async (t) => {
    t.equal(load('audit:\n  fhir:\n    url: https://audit.internal/fhir\n').audit.fhir?.auth, undefined);
  });

  t.test('each form loads as upstream.auth would', async (t) => {
    t.same(load(withAuth('      type: basic\n      basic: { username: auditor, password: "${AUDIT_PW}" }\n').replace('${AUDIT_PW}', 's3cret')).audit.fhir?.auth, {
      type: 'basic',
      basic: { username: 'auditor', password: 's3cret' },
    });
    t.same(load(withAuth('      type: header\n      header: { name: X-Api-Key, value: k3y }\n')).audit.fhir?.auth, { type: 'header', header: { name: 'X-Api-Key', value: 'k3y' } });
    t.same(load(withAuth('      type: client_credentials\n      token_url: https://idp.example/token\n      client_id: gw\n      client_secret: s3cret\n      scope: system/AuditEvent.c\n')).audit.fhir?.auth, {
      type: 'client_credentials',
      token_url: 'https://idp.example/token',
      client_id: 'gw',
      client_secret: 's3cret',
      scope: 'system/AuditEvent.c',
    });
    t.same(load(withAuth('      type: none\n')).audit.fhir?.auth, { type: 'none' }, 'none, written: no credentials even on the upstream’s base');
  });

  t.test('bad sections are reported at audit.fhir.auth, secrets never quoted', async (t) => {
    t.same(problemsOf(withAuth('      type: basic\n')), ['gateway.yaml: audit.fhir.auth.basic: required when type is basic']);
    t.same(problemsOf(withAuth('      type: header\n')), ['gateway.yaml: audit.fhir.auth.header: required when type is header']);
    const upstreamBasic = (() => {
      try {
        parseConfig(BASE.replace('  url: http://fhir.internal/fhir\n', '  url: http://fhir.internal/fhir\n  auth:\n    type: basic\n'), 'gateway.yaml', {});
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
      return [];
    })();
    t.same(upstreamBasic, ['gateway.yaml: upstream.auth.basic: required when type is basic'], 'the shared rule reports a missing basic under upstream.auth too (it used to throw)');
    t.same(problemsOf(withAuth('      type: none\n      client_id: gw\n')), ['gateway.yaml: audit.fhir.auth.client_id: not used with type none (its keys: type)']);
    t.same(problemsOf(withAuth('      type: client_credentials\n      client_id: gw\n      client_secret: s3cret\n')), [
      'gateway.yaml: audit.fhir.auth: type client_credentials needs token_url, or issuer to discover it',
    ]);
    t.same(problemsOf(withAuth('      type: sso\n')).length, 1);
    t.match(problemsOf(withAuth('      type: sso\n'))[0], /^gateway\.yaml: audit\.fhir\.auth\.type: expected one of/);
    const quoted = problemsOf(withAuth('      type: header\n      header: { name: Authorization, value: "Bearer s3cret\\n" }\n'));
    t.match(quoted.join('\n'), /audit\.fhir\.auth\.header\.value: expected visible characters/);
    t.notMatch(quoted.join('\n'), /s3cret/, 'the value is not quoted');
  });

  t.test('the files it names are read while loading, named by their key', async (t) => {
    t.same(problemsOf(withAuth('      type: private_key_jwt\n      token_url: https://idp.example/token\n      client_id: gw\n      signing_key_file: /nonexistent/audit-key.json\n')), [
      'gateway.yaml: audit.fhir.auth.signing_key_file: cannot read /nonexistent/audit-key.json (no such file)',
    ]);
    t.same(problemsOf(withAuth('      type: google_service_account\n      key_file: /nonexistent/sa.json\n')), [
      'gateway.yaml: audit.fhir.auth.key_file: cannot read /nonexistent/sa.json (no such file)',
    ]);
  });
});

t.test('server.admin_port and server.admin_host', async (t) => {
  t.test('admin_port alone: admin_host stays absent and the code binds DEFAULT_ADMIN_HOST', async (t) => {
    const server = serverWith('  admin_port: 9090\n').server;
    t.equal(server.admin_port, 9090);
    t.equal(server.admin_host, undefined);
    t.equal(DEFAULT_ADMIN_HOST, '127.0.0.1', 'loopback: only this machine');
  });

  t.test('both set', async (t) => {
    const server = serverWith('  admin_port: ${ADMIN_PORT:-9090}\n  admin_host: 0.0.0.0\n').server;
    t.equal(server.admin_port, 9090);
    t.equal(server.admin_host, '0.0.0.0');
  });

  t.test('0 (a free port, as for port) is allowed for both', async (t) => {
    const server = parseConfig(BASE.replace('port: 8080', 'port: 0\n  admin_port: 0'), 'gateway.yaml', {}).server;
    t.equal(server.port, 0);
    t.equal(server.admin_port, 0);
  });

  t.test('bad values name the key and what was expected', async (t) => {
    t.same(serverProblems('  admin_port: 8080\n'), ['gateway.yaml: server.admin_port: expected a port other than server.port (got 8080)']);
    t.same(serverProblems('  admin_port: 70000\n'), ['gateway.yaml: server.admin_port: expected at most 65535 (got 70000)']);
    t.same(serverProblems('  admin_port: metrics\n'), ['gateway.yaml: server.admin_port: expected an integer (got "metrics")']);
    t.same(serverProblems('  admin_host: 127.0.0.1\n'), ['gateway.yaml: server.admin_host: only meaningful with admin_port']);
    t.same(serverProblems('  admin_port: 9090\n  admin_host: ""\n'), ['gateway.yaml: server.admin_host: expected a non-empty string (got "")']);
  });
});

t.test('the example file documents login_protection with its defaults', async (t) => {
  const config = loadConfigFile(EXAMPLE, { BACKEND_SECRET: 'x' });
  t.same(config.login_protection, LOGIN_PROTECTION_DEFAULTS);
  t.equal(config.audit.fhir, undefined, 'audit.fhir is shown commented out: off by default');
});

t.test("the example's commented audit.fhir block is valid once uncommented", async (t) => {
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(EXAMPLE, 'utf8');
  const uncommented = text.replace(/^  # fhir:\n((?:  #   .*\n)+)/m, (_block, body: string) => '  fhir:\n' + body.replace(/^  # {3}/gm, '    '));
  t.not(uncommented, text, 'the block was found');
  const config = parseConfig(uncommented, EXAMPLE, { BACKEND_SECRET: 'x' });
  t.same(config.audit.fhir, { url: 'http://fhir-server:8080/fhir', batch_size: 50, flush_interval: 5, queue_limit: 10000 }, 'and shows the defaults');
});
