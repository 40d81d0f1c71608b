import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../support/free-port.js';
import { startGatewayProcess, waitFor } from '../../../support/gateway-process.js';
import { authorizeRequest, startIdentityStack, textOf } from '../../../support/identity-stack.js';
import { makeClientKey } from '../../../support/oidc-provider.js';

/**
 * The relying parties are part of the runtime snapshot: built at start and on every SIGHUP
 * reload, with their private_key_jwt key files read then. A reload whose key file cannot be used
 * is refused (the running providers stay); a valid one takes effect on the login page.
 */
t.test('identity providers on reload', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fhirgw-idp-keys-'));
  const goodKey = join(dir, 'good.jwk');
  const badKey = join(dir, 'bad.jwk');
  writeFileSync(goodKey, JSON.stringify((await makeClientKey()).privateJwk));
  writeFileSync(badKey, 'not a key');
  const provider = (name: string, keyFile: string) => ({
    id: 'hospital-sso',
    name,
    // Discovered on first use only: nothing needs to listen here for the login page.
    issuer: 'http://127.0.0.1:9/realms/h',
    allow_http: true,
    client_id: 'fhir-gateway',
    token_endpoint_auth_method: 'private_key_jwt',
    signing_key_file: keyFile,
    fhir_user: 'Practitioner/{employee_id}',
    resource_scope: 'user/*.rs',
  });
  const stack = await startIdentityStack(t, { edit: (raw) => (raw.identity_providers = [provider('Hospital SSO', goodKey)]) });
  const loginPage = async () => textOf((await stack.browser().open((await authorizeRequest(await stack.app(), stack.base, { scope: 'openid user/*.rs' })).url)).html);
  t.match(await loginPage(), /Sign in with Hospital SSO/);

  stack.gateway.writeConfig({ ...stack.raw, identity_providers: [provider('Broken SSO', badKey)] });
  stack.gateway.kill('SIGHUP');
  await waitFor(() => /reload failed; keeping the running configuration/.test(stack.gateway.stdout()), 15_000, 'the reload was refused');
  t.match(stack.gateway.stdout(), /identity_providers\[0\]\.signing_key_file: .*bad\.jwk is not JSON/, 'the log names the key and the file');
  t.match(await loginPage(), /Sign in with Hospital SSO/, 'the running providers stay');

  stack.gateway.writeConfig({ ...stack.raw, identity_providers: [provider('Renamed SSO', goodKey)] });
  stack.gateway.kill('SIGHUP');
  await waitFor(async () => /Sign in with Renamed SSO/.test(await loginPage()), 15_000, 'the valid reload took effect');
  t.pass('a valid reload replaces the providers');

  const broken = await startGatewayProcess(t, {
    config: { ...stack.raw, server: { ...stack.raw.server, port: await freePort() }, identity_providers: [provider('Broken SSO', badKey)] },
    waitHealthy: false,
  });
  t.equal((await broken.exited).code, 2, 'a key file that cannot be used stops the start, as a configuration error (exit 2)');
  t.match(broken.stderr(), /gateway\.yaml: identity_providers\[0\]\.signing_key_file: .*bad\.jwk is not JSON/, 'naming the config file, the key and the file');
});
