import t from 'tap';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import { ConfigError, loadConfigFile, parseConfig } from '../../config/loader.js';
import { makeTestPki } from '../support/test-pki.js';

/** upstream.auth, upstream.tls, upstream.identity (issue 11), in the style of test/config.test.ts. */

const EXAMPLE = fileURLToPath(new URL('../../config/examples/gateway.yaml', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/fhir-gateway.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'fhirgw-upstream-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

/** A valid file whose upstream section also holds `upstreamYaml` (indented by 2). */
const withUpstream = (upstreamYaml: string, url = 'https://fhir.internal/fhir') =>
  `server:\n  public_url: https://gw.example.org/fhir\nupstream:\n  url: ${url}\n${upstreamYaml.replace(/^/gm, '  ')}\n`;

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'gateway.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError, but none was thrown');
}
const upstreamOf = (text: string, env: NodeJS.ProcessEnv = {}) => parseConfig(text, 'gateway.yaml', env).upstream;

// Key material made once for the whole file.
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const es384 = await generateKeyPair('ES384', { extractable: true });
const es256 = await generateKeyPair('ES256', { extractable: true });
const rsaJwkFile = file('rsa.jwk.json', JSON.stringify(await exportJWK(rsa.privateKey)));
const es384JwksFile = file('es384.jwks.json', JSON.stringify({ keys: [{ ...(await exportJWK(es384.privateKey)), kid: 'gw-es384' }] }));
const es256JwkFile = file('es256.jwk.json', JSON.stringify({ ...(await exportJWK(es256.privateKey)), kid: 'x' }));
const publicJwkFile = file('public.jwk.json', JSON.stringify({ ...(await exportJWK(es384.publicKey)), kid: 'pub' }));
const SECRET_CONTENT = 'TOP-SECRET-CONTENT-4711';
const notJsonFile = file('not-json.json', `{"d": "${SECRET_CONTENT}", oops`);
const serviceAccount = (overrides: Record<string, unknown>) =>
  JSON.stringify({
    type: 'service_account',
    project_id: 'p',
    private_key_id: 'kid-1',
    private_key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: 'gw@p.iam.gserviceaccount.com',
    token_uri: 'https://oauth2.googleapis.com/token',
    ...overrides,
  });
const googleKeyFile = file('google.json', serviceAccount({}));

t.test('absent sections: no credentials, system trust store, no identity; nothing added to upstream', async (t) => {
  t.same(upstreamOf(withUpstream('')), { url: 'https://fhir.internal/fhir', timeout: 30, max_sockets: 256, forwarder: 'undici' });
});

t.test('each auth type loads into its shape', async (t) => {
  t.same(upstreamOf(withUpstream('auth: {}')).auth, { type: 'none' }, 'type defaults to none');
  t.same(upstreamOf(withUpstream('auth: {type: header, header: {name: X-API-Key, value: "${KEY}"}}'), { KEY: 'k: #1' }).auth, {
    type: 'header',
    header: { name: 'X-API-Key', value: 'k: #1' },
  });
  t.same(upstreamOf(withUpstream('auth: {type: basic, basic: {username: gw, password: "${PW}"}}'), { PW: 'pw' }).auth, { type: 'basic', basic: { username: 'gw', password: 'pw' } });
  t.same(
    upstreamOf(
      withUpstream(`auth:
  type: client_credentials
  token_url: https://idp.internal/oauth2/token
  client_id: fhir-gateway
  client_secret: \${UPSTREAM_SECRET}
  scope: system/*.cruds
  audience: https://fhir.internal/fhir`),
      { UPSTREAM_SECRET: 's3cret' },
    ).auth,
    {
      type: 'client_credentials',
      token_url: 'https://idp.internal/oauth2/token',
      client_id: 'fhir-gateway',
      client_secret: 's3cret',
      scope: 'system/*.cruds',
      audience: 'https://fhir.internal/fhir',
    },
  );
  t.same(upstreamOf(withUpstream('auth: {type: client_credentials, issuer: "http://127.0.0.1:9000/realms/x", client_id: a, client_secret: b}')).auth, {
    type: 'client_credentials',
    issuer: 'http://127.0.0.1:9000/realms/x',
    client_id: 'a',
    client_secret: 'b',
  }, 'plain http is fine on loopback');
  t.same(upstreamOf(withUpstream(`auth: {type: private_key_jwt, token_url: "https://idp/token", client_id: a, signing_key_file: ${rsaJwkFile}, kid: k1}`)).auth, {
    type: 'private_key_jwt',
    token_url: 'https://idp/token',
    client_id: 'a',
    signing_key_file: rsaJwkFile,
    kid: 'k1',
  });
  t.ok(upstreamOf(withUpstream(`auth: {type: private_key_jwt, issuer: "https://idp", client_id: a, signing_key_file: ${es384JwksFile}}`)).auth, 'ES384 from a JWKS, kid from the JWK');
  t.same(upstreamOf(withUpstream(`auth: {type: google_service_account, key_file: ${googleKeyFile}}`)).auth, { type: 'google_service_account', key_file: googleKeyFile });
});

t.test('keys that do not belong to the type, and keys it needs', async (t) => {
  t.same(problemsOf(withUpstream('auth: {type: oauth}')), [
    'gateway.yaml: upstream.auth.type: expected one of none, header, basic, client_credentials, private_key_jwt, google_service_account (got "oauth")',
  ]);
  t.same(problemsOf(withUpstream('auth: {type: none, client_secret: hunter2}')), ['gateway.yaml: upstream.auth.client_secret: not used with type none (its keys: type)']);
  t.same(problemsOf(withUpstream('auth: {type: client_credentials, token_url: "https://idp/token"}')), [
    'gateway.yaml: upstream.auth.client_id: required when type is client_credentials',
    'gateway.yaml: upstream.auth.client_secret: required when type is client_credentials',
  ]);
  t.same(problemsOf(withUpstream('auth: {type: client_credentials, client_id: a, client_secret: b}')), [
    'gateway.yaml: upstream.auth: type client_credentials needs token_url, or issuer to discover it',
  ]);
  t.same(problemsOf(withUpstream('auth: {type: client_credentials, client_id: a, client_secret: b, token_url: "https://i/t", issuer: "https://i"}')), [
    'gateway.yaml: upstream.auth.issuer: not together with token_url (give one of them)',
  ]);
  t.same(problemsOf(withUpstream(`auth: {type: private_key_jwt, token_url: "https://i/t", client_id: a, client_secret: b, signing_key_file: ${rsaJwkFile}}`)), [
    'gateway.yaml: upstream.auth.client_secret: not used with type private_key_jwt (its keys: type, client_id, signing_key_file, token_url, issuer, scope, audience, kid)',
  ]);
  t.same(problemsOf(withUpstream('auth: {type: google_service_account, key_file: k.json, token_url: "https://i/t"}')), [
    'gateway.yaml: upstream.auth.token_url: not used with type google_service_account (its keys: type, key_file, scope)',
  ]);
  t.same(problemsOf(withUpstream('auth: {type: header, header: {name: X-Key}}')), ['gateway.yaml: upstream.auth.header.value: required key is missing']);
  t.same(problemsOf(withUpstream('auth: {type: basic, basic: {username: gw, password: p, realm: x}}')), [
    'gateway.yaml: upstream.auth.basic.realm: unknown key (allowed: username, password)',
  ]);
  t.match(problemsOf(withUpstream('auth: {type: none, bogus: 1}'))[0], /^gateway\.yaml: upstream\.auth\.bogus: unknown key \(allowed: type, token_url, issuer, client_id, client_secret, scope, audience, signing_key_file, kid, key_file, header, basic\)$/);
});

t.test('values: URLs, scope, header names and values', async (t) => {
  t.same(problemsOf(withUpstream('auth: {type: client_credentials, token_url: "http://idp.internal/token", client_id: a, client_secret: b}')), [
    'gateway.yaml: upstream.auth.token_url: expected https: credentials are sent there, and plain http is accepted only for localhost / 127.0.0.0/8 / [::1] (got "http://idp.internal/token")',
  ]);
  const withPassword = problemsOf(withUpstream('auth: {type: client_credentials, token_url: "https://gw:hunter2@idp/token", client_id: a, client_secret: b}'));
  t.same(withPassword, ['gateway.yaml: upstream.auth.token_url: expected a URL without user or password in it']);
  t.same(problemsOf(withUpstream('auth: {type: client_credentials, issuer: "https://idp/?tenant=1", client_id: a, client_secret: b}')), [
    'gateway.yaml: upstream.auth.issuer: expected an absolute https URL without query or fragment',
  ], 'a query may hold a key: not quoted');
  t.same(problemsOf(withUpstream('auth: {type: client_credentials, token_url: "ftp://idp/token", client_id: a, client_secret: b}')), [
    'gateway.yaml: upstream.auth.token_url: expected an absolute https URL without query or fragment (got "ftp://idp/token")',
  ]);
  t.same(problemsOf(withUpstream('auth: {type: client_credentials, token_url: "https://i/t", client_id: a, client_secret: b, scope: "a  b"}')), [
    'gateway.yaml: upstream.auth.scope: expected scope tokens separated by single spaces (got "a  b")',
  ]);
  t.same(problemsOf(withUpstream('auth: {type: header, header: {name: "X Key", value: v}}')), [
    'gateway.yaml: upstream.auth.header.name: expected an HTTP header name (letters, digits and !#$%&\'*+-.^_`|~) (got "X Key")',
  ]);
  t.same(problemsOf(withUpstream('auth: {type: header, header: {name: Host, value: v}}')), [
    'gateway.yaml: upstream.auth.header.name: "Host" is a header the gateway or HTTP itself sets; choose another name',
  ]);
  t.ok(upstreamOf(withUpstream('auth: {type: header, header: {name: Authorization, value: "Bearer static"}}')).auth, 'a static Authorization credential is allowed');
  t.same(problemsOf(withUpstream('auth: {type: header, header: {name: X-Key, value: "${KEY}"}}'), { KEY: 'line1\r\nX-Injected: 1' }), [
    'gateway.yaml: upstream.auth.header.value: expected visible characters and inner spaces only (no line breaks, control characters or surrounding whitespace)',
  ]);
  t.same(problemsOf(withUpstream('auth: {type: basic, basic: {username: "gw:1", password: p}}')), [
    'gateway.yaml: upstream.auth.basic.username: expected no colon and no control characters (RFC 7617)',
  ]);
});

t.test('secrets are never quoted back', async (t) => {
  const secrets = { S: 'hunter2-secret', V: 'api-key-value\n', P: 'pass\u0000word' };
  const messages = [
    ...problemsOf(withUpstream('auth: {type: client_credentials, token_url: "https://i/t", client_id: a, client_secret: 12345}')),
    ...problemsOf(withUpstream('auth: {type: header, header: {name: X-Key, value: "${V}"}}'), secrets),
    ...problemsOf(withUpstream('auth: {type: basic, basic: {username: u, password: "${P}"}}'), secrets),
    ...problemsOf(withUpstream('auth: {type: none, client_secret: "${S}"}'), secrets),
  ];
  t.same(messages[0], 'gateway.yaml: upstream.auth.client_secret: expected a string (got a number)');
  t.equal(messages.length, 4);
  for (const secret of ['12345', ...Object.values(secrets)]) {
    t.notOk(messages.some((message) => message.includes(secret.trim())), `no message holds ${JSON.stringify(secret)}`);
  }
});

t.test('identity: defaults, names, and forward_token only without auth', async (t) => {
  t.same(upstreamOf(withUpstream('identity: {}')).identity, {
    headers: false,
    header_names: {
      client_id: 'X-Forwarded-Client-Id',
      user: 'X-Forwarded-User',
      fhir_user: 'X-Forwarded-Fhir-User',
      patient: 'X-Forwarded-Patient',
      scope: 'X-Forwarded-Scope',
    },
    omit_headers: [],
    assertion: false,
    assertion_header: 'X-Forwarded-Identity-Assertion',
    forward_token: false,
  });
  t.same(upstreamOf(withUpstream('identity: {headers: true, omit_headers: [patient]}')).identity?.omit_headers, ['patient']);
  t.same(problemsOf(withUpstream('identity: {omit_headers: [patient_id]}')), [
    'gateway.yaml: upstream.identity.omit_headers[0]: expected one of client_id, user, fhir_user, patient, scope (got "patient_id")',
  ]);
  t.match(upstreamOf(withUpstream('identity: {headers: true, header_names: {fhir_user: X-Medplum-On-Behalf-Of}}')).identity, {
    headers: true,
    header_names: { fhir_user: 'X-Medplum-On-Behalf-Of', user: 'X-Forwarded-User' },
  });
  t.same(problemsOf(withUpstream('auth: {type: basic, basic: {username: u, password: p}}\nidentity: {forward_token: true}')), [
    "gateway.yaml: upstream.identity.forward_token: not with upstream.auth.type basic: both would set Authorization (forward the client's token only to an upstream that trusts the gateway's JWKS, with auth.type none)",
  ]);
  t.ok(upstreamOf(withUpstream('auth: {type: none}\nidentity: {forward_token: true}')).identity?.forward_token, 'with auth.type none it is allowed');
  t.same(problemsOf(withUpstream('identity: {header_names: {user: x_forwarded_client_id}}')), [
    'gateway.yaml: upstream.identity.header_names.user: "x_forwarded_client_id" is already used by upstream.identity.header_names.client_id',
  ]);
  t.same(problemsOf(withUpstream('identity: {assertion_header: Authorization}')), [
    'gateway.yaml: upstream.identity.assertion_header: "Authorization" is a header the gateway or HTTP itself sets; choose another name',
  ]);
  t.same(problemsOf(withUpstream('auth: {type: header, header: {name: X-User, value: v}}\nidentity: {header_names: {user: X_User}}')), [
    'gateway.yaml: upstream.identity.header_names.user: "X_User" is the credential header upstream.auth.header.name',
  ]);
  t.same(problemsOf(withUpstream('identity: {headers: yes}')), ['gateway.yaml: upstream.identity.headers: expected true or false (got "yes")']);
});

t.test('tls: pairs and names', async (t) => {
  const pki = makeTestPki(t);
  const ca = pki.ca('config-ca');
  const client = ca.client('gw');
  t.same(upstreamOf(withUpstream(`tls: {ca_file: ${ca.certFile}, cert_file: ${client.certFile}, key_file: ${client.keyFile}, server_name: fhir.internal}`)).tls, {
    ca_file: ca.certFile,
    cert_file: client.certFile,
    key_file: client.keyFile,
    server_name: 'fhir.internal',
    allow_insecure: false,
  });
  t.same(problemsOf(withUpstream(`tls: {cert_file: ${client.certFile}}`)), ['gateway.yaml: upstream.tls.key_file: required with cert_file (a client certificate needs both)']);
  t.same(problemsOf(withUpstream(`tls: {ca_file: ${ca.certFile}, allow_insecure: true}`)), [
    'gateway.yaml: upstream.tls.allow_insecure: not together with ca_file: allow_insecure turns certificate verification off, so the CA would be ignored',
  ]);
  t.same(problemsOf(withUpstream('tls: {server_name: "10.0.0.1"}')), ['gateway.yaml: upstream.tls.server_name: expected a DNS name (got "10.0.0.1")']);
  t.same(problemsOf(withUpstream('tls: {server_name: fhir.internal}', 'http://fhir.internal/fhir')), ['gateway.yaml: upstream.tls.server_name: only used with an https upstream.url']);
});

t.test('files: unreadable or invalid ones are configuration errors that name file and key, never content', async (t) => {
  const pki = makeTestPki(t);
  const ca = pki.ca('files-ca');
  const client = ca.client('gw');
  const other = ca.client('other');
  const expiredClient = ca.client('gw-expired', { expired: true });
  const missing = join(dir, 'missing.pem');

  t.same(problemsOf(withUpstream(`tls: {ca_file: ${missing}}`)), [`gateway.yaml: upstream.tls.ca_file: cannot read ${missing} (no such file)`]);
  t.same(problemsOf(withUpstream(`tls: {ca_file: ${dir}}`)), [`gateway.yaml: upstream.tls.ca_file: cannot read ${dir} (it is a directory)`]);
  t.same(problemsOf(withUpstream(`tls: {ca_file: ${client.keyFile}}`)), [
    `gateway.yaml: upstream.tls.ca_file: ${client.keyFile} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)`,
  ]);
  const brokenPem = file('broken.pem', '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');
  t.same(problemsOf(withUpstream(`tls: {ca_file: ${brokenPem}}`)), [`gateway.yaml: upstream.tls.ca_file: certificate 1 in ${brokenPem} cannot be parsed (expected PEM X.509)`]);
  t.same(problemsOf(withUpstream(`tls: {cert_file: ${expiredClient.certFile}, key_file: ${expiredClient.keyFile}}`)), [
    `gateway.yaml: upstream.tls.cert_file: the certificate in ${expiredClient.certFile} expired on 2020-02-01T00:00:00.000Z`,
  ]);
  t.same(problemsOf(withUpstream(`tls: {cert_file: ${client.certFile}, key_file: ${other.keyFile}}`)), [
    `gateway.yaml: upstream.tls.key_file: ${other.keyFile} is not the private key of the certificate in upstream.tls.cert_file`,
  ]);
  const encrypted = file('encrypted.key', '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n');
  t.same(problemsOf(withUpstream(`tls: {cert_file: ${client.certFile}, key_file: ${encrypted}}`)), [
    `gateway.yaml: upstream.tls.key_file: ${encrypted} is an encrypted key; the gateway needs it unencrypted (protect the file's permissions instead)`,
  ]);
  t.same(problemsOf(withUpstream(`tls: {cert_file: ${client.certFile}, key_file: ${client.certFile}}`)), [
    `gateway.yaml: upstream.tls.key_file: ${client.certFile} holds no usable PEM private key (expected -----BEGIN PRIVATE KEY----- or an RSA/EC key)`,
  ]);

  const pkjwt = (keyFile: string, kid = '') => withUpstream(`auth: {type: private_key_jwt, token_url: "https://idp/token", client_id: a, signing_key_file: ${keyFile}${kid}}`);
  const notJson = problemsOf(pkjwt(notJsonFile));
  t.same(notJson, [`gateway.yaml: upstream.auth.signing_key_file: ${notJsonFile} is not JSON (expected a private RSA (RS384) or EC P-384 (ES384) JWK, or a JWKS whose first key is one)`]);
  t.notOk(notJson.join('\n').includes(SECRET_CONTENT), 'the file content is not quoted (JSON.parse would)');
  t.same(problemsOf(pkjwt(publicJwkFile)), [`gateway.yaml: upstream.auth.signing_key_file: ${publicJwkFile}: the JWK is a public key; the gateway signs with it, so it needs the private key ("d")`]);
  t.same(problemsOf(pkjwt(es256JwkFile)), [
    `gateway.yaml: upstream.auth.signing_key_file: ${es256JwkFile}: expected a private RSA (RS384) or EC P-384 (ES384) JWK, or a JWKS whose first key is one (got kty "EC", crv "P-256")`,
  ]);
  t.same(problemsOf(pkjwt(rsaJwkFile)), [`gateway.yaml: upstream.auth.kid: required: the JWK in ${rsaJwkFile} has no kid, and the token endpoint picks the key by it`]);

  const google = (content: string) => withUpstream(`auth: {type: google_service_account, key_file: ${file('g.json', content)}}`);
  const g = join(dir, 'g.json');
  t.same(problemsOf(google(JSON.stringify({ type: 'authorized_user' }))), [`gateway.yaml: upstream.auth.key_file: ${g}: expected a Google service-account key file ("type": "service_account")`]);
  t.same(problemsOf(google(serviceAccount({ client_email: undefined, token_uri: '' }))), [
    `gateway.yaml: upstream.auth.key_file: ${g}: missing client_email, token_uri (expected a Google service-account key file)`,
  ]);
  t.same(problemsOf(google(serviceAccount({ token_uri: 'http://oauth2.example/token' }))), [
    `gateway.yaml: upstream.auth.key_file: ${g}: token_uri: expected https: credentials are sent there, and plain http is accepted only for localhost / 127.0.0.0/8 / [::1] (got "http://oauth2.example/token")`,
  ]);
  const badKey = problemsOf(google(serviceAccount({ private_key: `-----BEGIN PRIVATE KEY-----\n${SECRET_CONTENT}\n-----END PRIVATE KEY-----\n` })));
  t.same(badKey, [`gateway.yaml: upstream.auth.key_file: ${g}: private_key is not a PEM private key`]);

  t.same(
    problemsOf(withUpstream(`auth: {type: header, header: {name: "Bad Name", value: v}}\ntls: {ca_file: ${missing}}`)),
    ['gateway.yaml: upstream.auth.header.name: expected an HTTP header name (letters, digits and !#$%&\'*+-.^_`|~) (got "Bad Name")', `gateway.yaml: upstream.tls.ca_file: cannot read ${missing} (no such file)`],
    'a file of a section that holds is checked even when another section is wrong: every problem at once',
  );
});

t.test('the CLI exits 2 on an unreadable upstream file, naming it', async (t) => {
  const config = file('cli.yaml', withUpstream(`tls: {ca_file: ${join(dir, 'nope.pem')}}`));
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, '--config', config], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (exitCode) => {
      clearTimeout(killer);
      resolve({ code: exitCode, stderr });
    });
  });
  t.equal(code, 2);
  t.equal(stderr, `Configuration is invalid; the gateway did not start:\n  - ${config}: upstream.tls.ca_file: cannot read ${join(dir, 'nope.pem')} (no such file)\n`);
});

t.test('the example file documents the upstream sections and loads', async (t) => {
  const config = loadConfigFile(EXAMPLE, { BACKEND_SECRET: 'x' });
  t.same(config.upstream.auth, { type: 'none' });
  t.same(config.upstream.tls, { allow_insecure: false });
  t.match(config.upstream.identity, { headers: false, assertion: false, forward_token: false, assertion_header: 'X-Forwarded-Identity-Assertion' });
});
