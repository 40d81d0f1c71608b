import t from 'tap';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfigFile, parseConfig, resolveConfigPath } from '../../config/loader.js';
import { DURATION_HINT, parseDuration } from '../../config/durations.js';

const EXAMPLE = fileURLToPath(new URL('../../config/examples/gateway.yaml', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/config/${name}`, import.meta.url));

const BASE = `
server:
  public_url: https://gw.example.org/fhir
upstream:
  url: http://fhir.internal/fhir
`;

/** A valid file plus `extra` YAML appended at top level. */
const withExtra = (extra: string) => BASE + extra;

/** A valid file whose only client is `clientYaml` (a YAML mapping body, indented by 4). */
const withClient = (clientYaml: string) => `${BASE}clients:\n  - ${clientYaml.trim().replace(/\n/g, '\n    ')}\n`;

function problemsThrownBy(action: () => unknown): string[] {
  try {
    action();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError, but none was thrown');
}

const problemsOf = (text: string, env: NodeJS.ProcessEnv = {}, source = 'gateway.yaml') =>
  problemsThrownBy(() => parseConfig(text, source, env));

t.test('the example file loads when BACKEND_SECRET is set', async (t) => {
  const config = loadConfigFile(EXAMPLE, { BACKEND_SECRET: 's3cret: #not-a-comment' });
  t.equal(config.source, EXAMPLE);
  t.same(config.server, { host: '0.0.0.0', port: 8080, public_url: 'https://fhir.example.org/fhir', max_body_bytes: 65536, workers: 1, trusted_proxies: [], shutdown_grace: 10 });
  t.same(config.tokens, { access_token_ttl: 3600, clock_skew: 30 });
  t.equal(config.clients[0]!.client_secret, 's3cret: #not-a-comment', 'substituted after parsing, so YAML syntax in a secret is inert');
  t.same(
    config.clients.map((client) => [client.client_id, client.token_endpoint_auth_method]),
    [
      ['backend-service', 'client_secret_basic'],
      ['partner-system', 'private_key_jwt'],
      ['patient-portal', 'none'],
      ['clinic-web-app', 'client_secret_basic'],
    ],
  );
});

t.test('the example file without BACKEND_SECRET names the variable and the key', async (t) => {
  t.same(problemsThrownBy(() => loadConfigFile('config/examples/gateway.yaml', {})), [
    'config/examples/gateway.yaml: clients[0].client_secret: environment variable BACKEND_SECRET is not set (use ${BACKEND_SECRET:-default} to give a default)',
  ]);
});

t.test('defaults fill every optional key and trailing slashes are stripped', async (t) => {
  const config = loadConfigFile(fixture('minimal.yaml'), {});
  t.same(config, {
    source: fixture('minimal.yaml'),
    server: { host: '0.0.0.0', port: 8080, public_url: 'https://gw.example.org/fhir', max_body_bytes: 65536, workers: 1, trusted_proxies: [], shutdown_grace: 10 },
    upstream: { url: 'http://fhir.internal:8080/fhir', timeout: 30, max_sockets: 256, forwarder: 'undici' },
    store: { key_prefix: 'fhirgw:' },
    tokens: { access_token_ttl: 3600, clock_skew: 30 },
    clients: [],
    logging: { level: 'info' },
    rate_limits: {},
    audit: { enabled: true, destination: 'stdout' },
    proxy: { max_buffered_body: 10485760, paging_link_ttl: 3600, cache_control: 'no-store' },
  });

  const client = parseConfig(withClient('client_id: a\nclient_secret: x\nscope: system/*.rs'), 'g.yaml', {}).clients[0];
  t.same(client, {
    client_id: 'a',
    client_secret: 'x',
    scope: 'system/*.rs',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    redirect_uris: [],
  });
});

t.test('the result is frozen and not shared between loads', async (t) => {
  const first = parseConfig(withClient('client_id: a\nclient_secret: x\nscope: s'), 'g.yaml', {});
  const second = parseConfig(withClient('client_id: a\nclient_secret: x\nscope: s'), 'g.yaml', {});
  t.not(first.clients, second.clients);
  t.throws(() => {
    (first.server as { port: number }).port = 1;
  }, TypeError);
  t.throws(() => {
    first.clients[0]!.grant_types.push('password');
  }, TypeError);
});

t.test('ConfigError carries every problem and joins them in its message', async (t) => {
  const error = t.throws(() => parseConfig('{}', 'empty.yaml', {})) as ConfigError;
  t.type(error, ConfigError);
  t.same(error.problems, ['empty.yaml: server: required key is missing', 'empty.yaml: upstream: required key is missing']);
  t.equal(error.message, error.problems.join('\n'));
});

t.test('unknown keys', async (t) => {
  const [topLevel, ...restTop] = problemsOf(withExtra('servr: {}\n'));
  t.same(restTop, []);
  t.match(topLevel, /^gateway\.yaml: servr: unknown key \(allowed: server, upstream, store, tokens, clients, .*logging.*\)$/);
  const [nested, ...restNested] = problemsOf(BASE.replace('server:\n', 'server:\n  prot: 80\n'));
  t.same(restNested, []);
  t.match(nested, /^gateway\.yaml: server\.prot: unknown key \(allowed: host, port, public_url, max_body_bytes.*\)$/);
  const threeClients = `${BASE}clients:
  - {client_id: a, client_secret: x, scope: s}
  - {client_id: b, client_secret: x, scope: s}
  - {client_id: c, client_secret: x, scope: s, redirect_uri: "https://c/cb"}
`;
  t.same(problemsOf(threeClients), [
    'gateway.yaml: clients[2].redirect_uri: unknown key (allowed: client_id, client_name, client_secret, token_endpoint_auth_method, grant_types, scope, redirect_uris, jwks, jwks_uri, launch_uri, creates_launches)',
  ]);
  const proto = problemsOf(withExtra('__proto__: {polluted: true}\n'));
  t.equal(proto.length, 1);
  t.match(proto[0], /^gateway\.yaml: __proto__: unknown key \(allowed: server, /, 'a __proto__ key is a key, not a prototype');
  t.notOk(({} as Record<string, unknown>).polluted, 'Object.prototype untouched');
});

t.test('wrong types', async (t) => {
  t.same(problemsOf(BASE.replace('server:\n', 'server:\n  port: abc\n')), ['gateway.yaml: server.port: expected an integer (got "abc")']);
  t.same(problemsOf(BASE.replace('server:\n', 'server:\n  port: 80.5\n')), ['gateway.yaml: server.port: expected an integer (got 80.5)']);
  t.same(problemsOf(BASE.replace('server:\n', 'server:\n  port:\n')), ['gateway.yaml: server.port: expected an integer (got an empty value)']);
  t.same(problemsOf(withExtra('logging: [info]\n')), ['gateway.yaml: logging: expected a mapping (got a list)']);
  t.same(problemsOf(withClient('client_id: a\nclient_secret: x\nscope: s\nredirect_uris: https://a/cb')), [
    'gateway.yaml: clients[0].redirect_uris: expected a list (got "https://a/cb")',
  ]);
  t.same(problemsOf('- server\n'), ['gateway.yaml: expected a mapping of sections at the top level (got a list)']);
});

t.test('values out of range or not in the allowed set', async (t) => {
  t.same(problemsOf(BASE.replace('server:\n', 'server:\n  port: 70000\n')), ['gateway.yaml: server.port: expected at most 65535 (got 70000)']);
  t.same(problemsOf(withClient('client_id: a\nclient_secret: x\nscope: s\ntoken_endpoint_auth_method: basic')), [
    'gateway.yaml: clients[0].token_endpoint_auth_method: expected one of client_secret_basic, client_secret_post, private_key_jwt, none (got "basic")',
  ]);
  t.same(problemsOf(withClient('client_id: a\nclient_secret: x\nscope: s\ngrant_types: [client_credentials, device_code]')), [
    'gateway.yaml: clients[0].grant_types[1]: expected one of client_credentials, authorization_code, implicit, password, refresh_token (got "device_code")',
  ]);
  t.same(problemsOf(withExtra('logging: {level: verbose}\n')), [
    'gateway.yaml: logging.level: expected one of fatal, error, warn, info, debug, trace, silent (got "verbose")',
  ]);
});

t.test('missing required keys', async (t) => {
  t.same(problemsOf(BASE.replace('  url: http://fhir.internal/fhir\n', '  timeout: 5s\n')), ['gateway.yaml: upstream.url: required key is missing']);
  t.same(problemsOf('upstream: {url: "http://u"}\n'), ['gateway.yaml: server: required key is missing']);
  t.same(problemsOf(withClient('client_secret: x')), [
    'gateway.yaml: clients[0].client_id: required key is missing',
    'gateway.yaml: clients[0].scope: required key is missing',
  ]);
  t.same(problemsOf(''), ['gateway.yaml: server: required key is missing', 'gateway.yaml: upstream: required key is missing'], 'an empty file');
});

t.test('environment references', async (t) => {
  const portYaml = BASE.replace('server:\n', 'server:\n  port: ${PORT:-8080}\n');
  t.equal(parseConfig(portYaml, 'g.yaml', {}).server.port, 8080, 'the default is used and coerced to an integer');
  t.equal(parseConfig(portYaml, 'g.yaml', { PORT: '9090' }).server.port, 9090, 'the variable wins over the default');
  t.equal(parseConfig(portYaml, 'g.yaml', { PORT: '' }).server.port, 8080, 'an empty variable takes the default, as in the shell');
  t.same(problemsOf(portYaml, { PORT: 'http' }), ['gateway.yaml: server.port: expected an integer (got "http")']);

  const composed = BASE.replace('https://gw.example.org/fhir', 'https://${HOST}:${GW_PORT:-443}/${BASE_PATH:-fhir}');
  t.equal(parseConfig(composed, 'g.yaml', { HOST: 'gw.test', BASE_PATH: 'r4' }).server.public_url, 'https://gw.test:443/r4', 'several references in one string');

  t.equal(parseConfig(withExtra('tokens: {access_token_ttl: "${TTL:-15m}"}\n'), 'g.yaml', {}).tokens.access_token_ttl, 900, 'a default duration');
  t.equal(parseConfig(withExtra('tokens: {access_token_ttl: "${TTL:-15m}"}\n'), 'g.yaml', { TTL: '120' }).tokens.access_token_ttl, 120, 'a duration from the environment');

  const secretYaml = withClient('client_id: a\nclient_secret: ${SECRET}\nscope: s');
  t.equal(parseConfig(secretYaml, 'g.yaml', { SECRET: '${OTHER}' }).clients[0]!.client_secret, '${OTHER}', 'a substituted value is not expanded again');
  t.same(problemsOf(secretYaml), [
    'gateway.yaml: clients[0].client_secret: environment variable SECRET is not set (use ${SECRET:-default} to give a default)',
  ]);

  t.same(problemsOf(withClient('client_id: a\nclient_secret: "${SECRET"\nscope: s')), [
    'gateway.yaml: clients[0].client_secret: malformed environment reference (expected ${NAME} or ${NAME:-default})',
  ]);
});

t.test('durations', async (t) => {
  const table: [unknown, number | undefined][] = [
    ['30s', 30],
    ['5m', 300],
    ['1h', 3600],
    ['30d', 2_592_000],
    ['45', 45],
    [45, 45],
    [0, 0],
    ['0s', 0],
    ['1.5h', undefined],
    ['1h30m', undefined],
    ['-5s', undefined],
    [-5, undefined],
    [1.5, undefined],
    ['5 m', undefined],
    ['5M', undefined],
    ['1w', undefined],
    ['', undefined],
    ['99999999999999999d', undefined],
    [true, undefined],
    [null, undefined],
  ];
  for (const [written, seconds] of table) {
    t.equal(parseDuration(written), seconds, `${JSON.stringify(written)} -> ${String(seconds)}`);
  }

  const config = parseConfig(withExtra('tokens: {access_token_ttl: 15m, clock_skew: 0}\n'), 'g.yaml', {});
  t.same(config.tokens, { access_token_ttl: 900, clock_skew: 0 });
  t.same(problemsOf(withExtra('tokens: {access_token_ttl: 1.5h}\n')), [`gateway.yaml: tokens.access_token_ttl: ${DURATION_HINT} (got "1.5h")`]);
  t.same(problemsOf(BASE.replace('  url: http', '  timeout: [5s]\n  url: http')), [`gateway.yaml: upstream.timeout: ${DURATION_HINT} (got a list)`]);
  t.same(problemsOf(withExtra('tokens: {access_token_ttl: 0s}\n')), ['gateway.yaml: tokens.access_token_ttl: expected a duration of at least 1s (got 0)']);
});

t.test('URLs of the gateway and the upstream', async (t) => {
  for (const bad of ['gw.example.org/fhir', 'ftp://gw.example.org/fhir', 'https://gw.example.org/fhir?x=1', 'https://gw.example.org/fhir#top']) {
    t.same(
      problemsOf(BASE.replace('https://gw.example.org/fhir', bad)),
      [`gateway.yaml: server.public_url: expected an absolute http(s) URL without query or fragment (got ${JSON.stringify(bad)})`],
      bad,
    );
  }
  t.same(problemsOf(BASE.replace('http://fhir.internal/fhir', '/fhir')), [
    'gateway.yaml: upstream.url: expected an absolute http(s) URL without query or fragment (got "/fhir")',
  ]);
});

t.test('store URL', async (t) => {
  t.equal(parseConfig(withExtra('store: {url: "rediss://:pw@cache:6380/2"}\n'), 'g.yaml', {}).store.url, 'rediss://:pw@cache:6380/2');
  const problems = problemsOf(withExtra('store: {url: "http://:hunter2@cache:6379"}\n'));
  t.same(problems, ['gateway.yaml: store.url: expected a redis:// or rediss:// URL']);
  t.notMatch(problems.join('\n'), /hunter2/, 'a URL that may hold a password is not quoted back');
});

t.test('proxy.cache_control (issue 12, item 8)', async (t) => {
  t.equal(parseConfig(withExtra('proxy:\n  cache_control: private, no-cache\n'), 'g.yaml', {}).proxy.cache_control, 'private, no-cache');
  t.same(problemsOf(withExtra('proxy:\n  cache_control: "no-store\\r\\nSet-Cookie: a=1"\n')), [
    'gateway.yaml: proxy.cache_control: expected a Cache-Control value such as "no-store" or "private, no-cache": visible ASCII characters and spaces on one line (got "no-store\\r\\nSet-Cookie: a=1")',
  ]);
  t.same(problemsOf(withExtra('proxy:\n  cache_control: ""\n')), ['gateway.yaml: proxy.cache_control: expected a non-empty string (got "")']);
});

t.test('client rules', async (t) => {
  t.same(
    problemsOf(`${BASE}clients:
  - {client_id: a, client_secret: x, scope: s}
  - {client_id: b, client_secret: x, scope: s}
  - {client_id: a, client_secret: x, scope: s}
`),
    ['gateway.yaml: clients[2].client_id: duplicate client_id "a" (already used by clients[0])'],
  );
  for (const method of ['client_secret_basic', 'client_secret_post']) {
    t.same(problemsOf(withClient(`client_id: a\nscope: s\ntoken_endpoint_auth_method: ${method}`)), [
      `gateway.yaml: clients[0].client_secret: required when token_endpoint_auth_method is ${method}`,
    ]);
  }
  t.same(problemsOf(withClient('client_id: a\nscope: s\ntoken_endpoint_auth_method: none\nclient_secret: x')), [
    'gateway.yaml: clients[0].client_secret: not allowed when token_endpoint_auth_method is none',
  ]);
  t.same(problemsOf(withClient('client_id: a\nscope: s\ntoken_endpoint_auth_method: private_key_jwt')), [
    'gateway.yaml: clients[0]: token_endpoint_auth_method private_key_jwt needs jwks or jwks_uri',
  ]);
  const jwks = 'jwks: {keys: [{kty: EC, crv: P-256, x: "x", y: "y"}]}';
  t.same(parseConfig(withClient(`client_id: a\nscope: s\ntoken_endpoint_auth_method: private_key_jwt\n${jwks}`), 'g.yaml', {}).clients[0], {
    client_id: 'a',
    scope: 's',
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] },
    grant_types: ['client_credentials'],
    redirect_uris: [],
  });
  t.same(problemsOf(withClient(`client_id: a\nscope: s\ntoken_endpoint_auth_method: private_key_jwt\n${jwks}\njwks_uri: https://a/jwks`)), [
    'gateway.yaml: clients[0].jwks_uri: not allowed together with jwks',
  ]);
  t.same(problemsOf(withClient('client_id: a\nscope: s\ntoken_endpoint_auth_method: private_key_jwt\njwks: {keys: []}')), [
    'gateway.yaml: clients[0].jwks.keys: expected at least 1 entry',
  ]);

  for (const grantType of ['authorization_code', 'implicit']) {
    t.same(problemsOf(withClient(`client_id: a\nscope: s\ntoken_endpoint_auth_method: none\ngrant_types: [${grantType}]`)), [
      `gateway.yaml: clients[0].redirect_uris: at least one entry is required for grant type ${grantType}`,
    ]);
  }
  t.same(problemsOf(withClient('client_id: a\nclient_secret: x\nscope: s\ngrant_types: [password, password]')), [
    'gateway.yaml: clients[0].grant_types: expected no duplicates (entries [0] and [1] are the same)',
  ]);
  t.same(
    problemsOf(
      withClient(
        'client_id: a\nscope: s\ntoken_endpoint_auth_method: none\ngrant_types: [authorization_code]\nredirect_uris: ["https://app/cb", "/cb", "https://app/cb#x", "com.example.app:/cb"]',
      ),
    ),
    [
      'gateway.yaml: clients[0].redirect_uris[1]: expected an absolute URI without a fragment (got "/cb")',
      'gateway.yaml: clients[0].redirect_uris[2]: expected an absolute URI without a fragment (got "https://app/cb#x")',
    ],
    'custom schemes of native apps are absolute URIs',
  );
  for (const scope of ['', ' a', 'a  b', 'a ', 'a\tb', 'a"b']) {
    t.same(
      problemsOf(withClient(`client_id: a\nclient_secret: x\nscope: ${JSON.stringify(scope)}`)),
      [`gateway.yaml: clients[0].scope: expected scope tokens separated by single spaces (got ${JSON.stringify(scope)})`],
      `scope ${JSON.stringify(scope)}`,
    );
  }
});

t.test('a secret of the wrong type is described, not quoted', async (t) => {
  const problems = problemsOf(withClient('client_id: a\nclient_secret: 987654321\nscope: s'));
  t.same(problems, ['gateway.yaml: clients[0].client_secret: expected a string (got a number)']);
});

t.test('YAML syntax errors give file, line and column', async (t) => {
  const source = fixture('syntax-error.yaml');
  t.same(problemsThrownBy(() => loadConfigFile(source, {})), [`${source}:5:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]`]);
  t.same(problemsOf('server:\n  port: 1\nserver:\n  port: 2\n', {}, 'dup.yaml'), ['dup.yaml:3:1: YAML syntax error: Map keys must be unique']);
  t.same(problemsOf(withExtra('logging: {level: !level info}\n'), {}, 'tag.yaml'), ['tag.yaml:6:18: YAML syntax error: Unresolved tag: !level']);
});

t.test('unreadable files', async (t) => {
  t.same(problemsThrownBy(() => loadConfigFile('does/not/exist.yaml', {})), ['does/not/exist.yaml: config file not found']);
  t.same(problemsThrownBy(() => loadConfigFile('test/fixtures/config', {})), ['test/fixtures/config: is a directory, not a config file']);
});

t.test('all problems of a file are reported together', async (t) => {
  t.same(problemsThrownBy(() => loadConfigFile('test/fixtures/config/many-problems.yaml', {})), [
    'test/fixtures/config/many-problems.yaml: tokens.access_token_ttl: environment variable TOKEN_TTL is not set (use ${TOKEN_TTL:-default} to give a default)',
    'test/fixtures/config/many-problems.yaml: server.prot: unknown key (allowed: host, port, public_url, max_body_bytes, workers, trusted_proxies, shutdown_grace, admin_port, admin_host)',
    'test/fixtures/config/many-problems.yaml: upstream.url: required key is missing',
    `test/fixtures/config/many-problems.yaml: upstream.timeout: ${DURATION_HINT} (got "soon")`,
    'test/fixtures/config/many-problems.yaml: store.url: expected a redis:// or rediss:// URL',
    'test/fixtures/config/many-problems.yaml: clients[0].redirect_uris: at least one entry is required for grant type authorization_code',
  ]);
});

t.test('resolveConfigPath', async (t) => {
  const env = { FHIR_GATEWAY_CONFIG: '/etc/fhir-gateway/from-env.yaml' };
  t.equal(resolveConfigPath(['--config', 'a.yaml'], {}), 'a.yaml');
  t.equal(resolveConfigPath(['--config=b.yaml'], {}), 'b.yaml');
  t.equal(resolveConfigPath(['--config', 'a.yaml'], env), 'a.yaml', 'the command line wins over the environment');
  t.equal(resolveConfigPath(['--config=a.yaml', '--config', 'c.yaml'], {}), 'c.yaml', 'the last --config wins');
  t.equal(resolveConfigPath([], env), '/etc/fhir-gateway/from-env.yaml');
  t.equal(resolveConfigPath(['demo'], {}), undefined);
  t.equal(resolveConfigPath([], { FHIR_GATEWAY_CONFIG: '' }), undefined, 'an empty variable is not a path');
  t.equal(resolveConfigPath(['--', '--config', 'a.yaml'], {}), undefined, 'arguments after -- are not options');
  for (const argv of [['--config'], ['--config='], ['--config', '--verbose']]) {
    t.same(problemsThrownBy(() => resolveConfigPath(argv, env)), ['--config needs a file path (--config FILE or --config=FILE)'], argv.join(' '));
  }
});

t.test('users', async (t) => {
  const { hashPassword } = await import('../../authz/oauth/users/password-hash.js');
  const hash = await hashPassword('pw');
  const withUsers = (usersYaml: string) => `${BASE}users:\n${usersYaml}`;

  const config = parseConfig(
    withUsers(`  - {username: alice, password_hash: "${hash}", fhir_user: Patient/456, patient: Patient/456, scope: "patient/*.rs"}\n  - {username: bob, password_hash: "${hash}", scope: "user/*.rs"}\n`),
    'g.yaml',
    {},
  );
  t.same(config.users, [
    { username: 'alice', password_hash: hash, fhir_user: 'Patient/456', patient: 'Patient/456', scope: 'patient/*.rs' },
    { username: 'bob', password_hash: hash, scope: 'user/*.rs' },
  ]);
  t.equal(parseConfig(BASE, 'g.yaml', {}).users, undefined, 'no users section: nobody can sign in');

  t.same(problemsOf(withUsers(`  - {username: a, password_hash: "${hash}", scope: s}\n  - {username: a, password_hash: "${hash}", scope: s}\n`)), [
    'gateway.yaml: users[1].username: duplicate username "a" (already used by users[0])',
  ]);
  t.same(problemsOf(withUsers('  - {username: a, password_hash: "hunter2", scope: s}\n')), [
    'gateway.yaml: users[0].password_hash: expected a hash printed by `fhir-gateway hash-password` ($scrypt$ln=...)',
  ], 'a plain password is refused, and not quoted back');
  t.same(problemsOf(withUsers(`  - {username: a, password_hash: "${hash}", scope: s, fhir_user: "Device/1", patient: "456"}\n`)), [
    'gateway.yaml: users[0].fhir_user: expected a reference such as Practitioner/123 (Practitioner, PractitionerRole, Patient, RelatedPerson or Person) (got "Device/1")',
    'gateway.yaml: users[0].patient: expected a reference such as Patient/456 (got "456")',
  ]);
  t.same(problemsOf(withUsers(`  - {username: a, password_hash: "${hash}", scope: "a  b"}\n`)), [
    'gateway.yaml: users[0].scope: expected scope tokens separated by single spaces (got "a  b")',
  ]);
  t.same(problemsOf(withUsers('  - {username: a}\n')), [
    'gateway.yaml: users[0].password_hash: required key is missing',
    'gateway.yaml: users[0].scope: required key is missing',
  ]);
  t.same(problemsOf(withUsers(`  - {username: a, password_hash: "${hash}", scope: s, role: admin}\n`)), [
    'gateway.yaml: users[0].role: unknown key (allowed: username, password_hash, fhir_user, patient, scope)',
  ]);
});

t.test('refresh token and authorization code lifetimes', async (t) => {
  const tokens = parseConfig(withExtra('tokens:\n  refresh_token_ttl: 7d\n  authorization_code_ttl: 30s\n'), 'g.yaml', {}).tokens;
  t.equal(tokens.refresh_token_ttl, 7 * 24 * 3600);
  t.equal(tokens.authorization_code_ttl, 30);
  t.same(problemsOf(withExtra('tokens:\n  authorization_code_ttl: 11m\n')), ['gateway.yaml: tokens.authorization_code_ttl: expected at most 10m']);
  t.same(problemsOf(withExtra('tokens:\n  refresh_token_ttl: 0\n')), ['gateway.yaml: tokens.refresh_token_ttl: expected a duration of at least 1s (got 0)']);
});
