import t from 'tap';
import * as client from 'openid-client';
import { BACKEND_SECRET, forEachStore, startStack } from '../support/stack.js';

/**
 * The whole issue-#2 path as a backend app sees it: discovery and the client-credentials grant
 * through openid-client (a certified OAuth client), then FHIR calls through the proxy to a real
 * FHIR server, on both store implementations.
 */
forEachStore(t, async (t, store) => {
  // Redis runs with the http-proxy forwarder, memory with undici: both forwarders pass the same path.
  const forwarder = store === 'redis' ? 'http-proxy' : 'undici';
  const stack = await startStack(t, { store, edit: (raw) => (raw.upstream.forwarder = forwarder) });
  const base = stack.gateway.url;
  const [patient] = await stack.upstream.seed([{ resourceType: 'Patient', id: 'p1', name: [{ family: 'Gateway' }] }]);

  const config = await client.discovery(new URL(base), 'backend', undefined, client.ClientSecretBasic(BACKEND_SECRET), {
    algorithm: 'oauth2',
    execute: [client.allowInsecureRequests],
  });
  const meta = config.serverMetadata();
  t.equal(meta.issuer, base, 'issuer is the public URL');
  t.equal(meta.token_endpoint, `${base}/oauth/token`);
  t.ok(meta.grant_types_supported?.includes('client_credentials'), 'advertises client credentials');

  const tokens = await client.clientCredentialsGrant(config, { scope: 'system/Patient.rs' });
  t.equal(tokens.token_type.toLowerCase(), 'bearer');
  t.equal(tokens.scope, 'system/Patient.rs');
  t.ok(tokens.expires_in && tokens.expires_in > 0);

  stack.takeReceived();
  const read = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${base}/Patient/${patient!.id}`), 'GET');
  t.equal(read.status, 200, 'read through the gateway');
  t.equal((await read.json()).name[0].family, 'Gateway');
  const [forwarded] = stack.takeReceived();
  t.ok(forwarded, 'upstream received the read');
  t.equal(forwarded!.url, `/fhir/Patient/${patient!.id}`, 'path mapped onto the upstream base');
  t.notOk(forwarded!.headers.authorization, 'the bearer token is not forwarded');
  t.equal(forwarded!.headers['x-forwarded-for'], '127.0.0.1');
  t.ok(forwarded!.headers['x-forwarded-host'], 'X-Forwarded-Host set');
  t.equal(forwarded!.headers['x-forwarded-proto'], 'http');

  const search = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${base}/Patient?family=Gateway&_count=5`), 'GET');
  t.equal(search.status, 200);
  const bundle = await search.json();
  t.equal(bundle.resourceType, 'Bundle');
  t.equal(stack.takeReceived()[0]!.url, '/fhir/Patient?family=Gateway&_count=5', 'query string forwarded intact');

  // openid-client surfaces the RFC 6750 challenge as an error, as an app would see it.
  const refused = await client
    .fetchProtectedResource(
      config,
      tokens.access_token,
      new URL(`${base}/Patient`),
      'POST',
      JSON.stringify({ resourceType: 'Patient' }),
      new Headers({ 'content-type': 'application/fhir+json' }),
    )
    .then(
      () => undefined,
      (err: { status?: number; cause?: { scheme: string; parameters: Record<string, string> }[] }) => err,
    );
  t.equal(refused?.status, 403, 'a read-only token cannot create');
  t.equal(refused?.cause?.[0]?.parameters.error, 'insufficient_scope');
  t.equal(refused?.cause?.[0]?.parameters.scope, 'system/Patient.c', 'the challenge names the scope that was needed');
  t.same(stack.takeReceived(), [], 'the refused write never reached the upstream');

  t.notOk(stack.logs.some((line) => line.includes(tokens.access_token) || line.includes(BACKEND_SECRET)), 'no token or secret in logs');
  t.ok(stack.logs.some((line) => line.includes('"path":"/Patient/p1"')), 'one JSON log line per request');
});

t.test('metadata is public and streams a POST body through unchanged', async (t) => {
  const stack = await startStack(t, {
    store: 'memory',
    edit: (raw) => {
      raw.clients[0].scope = 'system/Patient.cruds';
    },
  });
  const base = stack.gateway.url;
  const md = await fetch(`${base}/metadata`);
  t.equal(md.status, 200);
  t.equal((await md.json()).resourceType, 'CapabilityStatement');

  const tokenRes = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { authorization: 'Basic ' + Buffer.from(`backend:${BACKEND_SECRET}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  const { access_token } = await tokenRes.json();
  stack.takeReceived();
  const body = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Streamed' }] });
  const created = await fetch(`${base}/Patient`, {
    method: 'POST',
    headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/fhir+json', prefer: 'return=representation' },
    body,
  });
  t.equal(created.status, 201);
  const location = created.headers.get('location') ?? '';
  t.ok(location.startsWith(base + '/Patient/'), `Location rewritten to the public URL (${location})`);
  const [forwarded] = stack.takeReceived();
  t.equal(forwarded!.body, body, 'body forwarded byte for byte');
  t.equal(forwarded!.headers['prefer'], 'return=representation', 'FHIR headers intact');
});
