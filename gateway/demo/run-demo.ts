import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../config/loader.js';
import { flushAllLogsSync } from '../process/log-destination.js';
import { createLogger } from '../process/logger.js';
import { startGateway } from '../server.js';
import { createStore } from '../store/create-store.js';
import { startFhirUpstream } from './fhir-upstream.js';
import { demoResources } from './seed-data.js';

const DEMO_CONFIG = fileURLToPath(new URL('../../config/examples/demo.yaml', import.meta.url));

/** `npm start` without a config: a FHIR server, seeded, behind the gateway, and a curl walk-through. */
export async function runDemo(env: NodeJS.ProcessEnv): Promise<{ close(): Promise<void> }> {
  const upstream = await startFhirUpstream();
  await upstream.seed(demoResources());
  const config = parseConfig(readFileSync(DEMO_CONFIG, 'utf8'), 'config/examples/demo.yaml', {
    ...env,
    DEMO_UPSTREAM_URL: upstream.baseUrl,
  });
  const log = createLogger(config.logging);
  const store = createStore(config.store, log);
  const gateway = await startGateway({ config, store, log });
  const base = config.server.public_url;
  const client = config.clients[0]!;
  const ehr = config.clients.find((c) => c.creates_launches === true)!;
  process.stdout.write(`
FHIR OAuth gateway demo
  gateway:  ${base}   (FHIR base and OAuth issuer)
  upstream: ${upstream.baseUrl}   (embedded FHIR server, 3 patients, 5 observations)

Try it:

  # 1. fetch a token with the client-credentials grant
  TOKEN=$(curl -s -u ${client.client_id}:${client.client_secret} -d grant_type=client_credentials ${base}/oauth/token | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')

  # 2. read patients through the gateway
  curl -s -H "Authorization: Bearer $TOKEN" ${base}/Patient

  # 3. a request without a token is refused before it reaches the FHIR server
  curl -si ${base}/Patient

  # discovery
  curl -s ${base}/.well-known/smart-configuration

  # the login and consent pages (user alice, password alice-demo): open in a browser
  ${base}/oauth/authorize?response_type=code&client_id=demo-app&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback&scope=launch%2Fpatient%20openid%20fhirUser%20patient%2F*.rs&state=demo&aud=${encodeURIComponent(base)}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256
  # then exchange the code from the address bar (this verifier matches the challenge above):
  curl -s -d grant_type=authorization_code -d client_id=demo-app -d redirect_uri=http://localhost:3000/callback \
    -d code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk -d code=PASTE_CODE ${base}/oauth/token

  # the patient picker: open the same URL in a private window and sign in as dr-demo (password doctor-demo)

  # an EHR launch: the EHR creates a launch for demo-app and Bob Okafor, then opens its launch_url
  curl -s -u demo-ehr:${ehr.client_secret} -d client_id=demo-app -d patient=pat-bob ${base}/oauth/launch
  # the app sends the launch value back in its authorize request, with the launch scope:
  ${base}/oauth/authorize?response_type=code&client_id=demo-app&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback&scope=launch%20openid%20fhirUser%20patient%2F*.rs&state=demo&aud=${encodeURIComponent(base)}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&launch=PASTE_LAUNCH

  # what a signed-in person has allowed, with a withdraw button per app
  ${base}/oauth/account

`);
  return {
    async close() {
      await gateway.close();
      await upstream.close();
      flushAllLogsSync();
    },
  };
}
