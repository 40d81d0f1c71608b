import t from 'tap';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { startFhirUpstream } from '../../../../gateway/demo/fhir-upstream.js';
import { freePort } from '../../../support/free-port.js';
import { startGatewayProcess, waitFor } from '../../../support/gateway-process.js';
import { startGuardedUpstream } from '../../../support/guarded-upstream.js';
import { clientToken } from '../../../support/ops-helpers.js';
import { startTokenServer } from '../../../support/oidc-token-server.js';
import { BACKEND_SECRET, baseRawConfig } from '../../../support/stack.js';

/**
 * audit.fhir.auth with a token kind, through the CLI-started gateway: an audit repository that
 * accepts only tokens of a real authorization server (oidc-provider) for it gets the AuditEvents
 * with a token the gateway fetched (client_credentials, RFC 6749 §4.4), one token for many sends;
 * when the repository refuses that token (401), the gateway fetches a new one and nothing is lost.
 */

const AUDIT_SECRET = 'audit-client-secret-0123456789';

t.test('client_credentials towards the audit repository: a token fetched once, renewed after a 401, nothing lost', async (t) => {
  const idp = await startTokenServer(t, { clients: [{ client_id: 'gw-audit', client_secret: AUDIT_SECRET, token_endpoint_auth_method: 'client_secret_basic' }] });
  const repository = await startGuardedUpstream(t, async (headers) => {
    const match = /^Bearer (.+)$/.exec(headers.authorization ?? '');
    if (!match) return false;
    await idp.verify(match[1]!);
    return true;
  });
  const upstream = await startFhirUpstream();
  t.teardown(() => upstream.close());
  await upstream.seed([{ resourceType: 'Patient', id: 't1' }] as never);

  const raw = baseRawConfig(await freePort(), upstream.baseUrl);
  raw.audit = {
    enabled: false,
    fhir: {
      url: repository.baseUrl,
      batch_size: 1,
      flush_interval: '1s',
      auth: { type: 'client_credentials', token_url: idp.tokenUrl, client_id: 'gw-audit', client_secret: AUDIT_SECRET, audience: idp.resource },
    },
  };
  const gw = await startGatewayProcess(t, { config: raw });
  const token = await clientToken(gw.url, 'backend', BACKEND_SECRET, 'system/Patient.rs');
  const read = async (id: string) => {
    const res = await fetch(`${gw.url}/Patient/t1`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': id } });
    await res.arrayBuffer();
    t.equal(res.status, 200, `${id} allowed`);
  };
  const stored = async () => {
    const bundle = (await (await fetch(`${repository.fhir.baseUrl}/AuditEvent?_count=100`)).json()) as Bundle<AuditEvent>;
    return (bundle.entry ?? []).map((entry) => entry.resource!.entity?.find((e) => e.type?.code === 'XrequestId')?.what?.identifier?.value);
  };

  for (const id of ['tok-1', 'tok-2', 'tok-3']) await read(id);
  await waitFor(async () => (await stored()).length === 3, 20_000, 'three AuditEvents at the repository');
  t.equal(idp.tokensIssued(), 1, 'one token for three sends');
  const first = repository.seen.at(-1)!.authorization!;
  t.match(first, /^Bearer /);

  // The repository stops accepting that token, as after a revocation or a key rotation.
  repository.revoke(first);
  await read('tok-4');
  await waitFor(async () => (await stored()).includes('tok-4'), 20_000, 'the fourth AuditEvent, with a new token');
  t.equal(repository.refusals(), 1, 'refused once');
  t.equal(idp.tokensIssued(), 2, 'one new token after the 401');
  t.not(repository.seen.at(-1)!.authorization, first, 'and the send after it carried the new one');
  t.same((await stored()).sort(), ['tok-1', 'tok-2', 'tok-3', 'tok-4'], 'every AuditEvent, once');

  await gw.stop();
  t.notOk(gw.stdout().includes(AUDIT_SECRET), 'the client secret is never logged');
  t.notOk(gw.stdout().includes(first.slice('Bearer '.length)), 'nor the token');
  t.notOk(gw.logs.some((l) => /refuses every batch|endpoint unavailable/.test(String(l.msg))), 'a renewed token is no outage: nothing alarming in the log');
});
