import t from 'tap';
import { callFhir, entryIds, mintToken, twoPatientRecords } from '../../support/fhir-calls.js';
import { startScriptedUpstream } from '../../support/scripted-upstream.js';
import { startStack } from '../../support/stack.js';
import { pagingKey, PagingLinkSigner } from '../../../gateway/proxy/paging-links.js';

const resource = (id: string, patient: string) => ({ resourceType: 'Observation', id, status: 'final', code: { text: id }, subject: { reference: `Patient/${patient}` } });

t.test('paging links get the decision of the search that produced them', async (t) => {
  const upstream = await startScriptedUpstream();
  t.teardown(() => upstream.close());
  const stack = await startStack(t, { store: 'memory', upstream });
  await upstream.seed(twoPatientRecords());
  const base = stack.gateway.url;
  const alice = await mintToken(stack, { sub: 'alice', scope: 'patient/Observation.rs', patient: 'pat-alice' });
  const bob = await mintToken(stack, { sub: 'bob', scope: 'patient/Observation.rs', patient: 'pat-bob' });

  // An upstream with opaque cursors (like HAPI's _getpages): the cursor names the search.
  upstream.script(({ url, baseUrl }) => {
    if (url.pathname !== '/fhir/Observation') return undefined;
    const cursor = url.searchParams.get('_cursor');
    const subject = url.searchParams.get('subject') ?? '';
    const patient = subject.replace('Patient/', '');
    if (cursor === null && url.searchParams.get('_count') === '1') {
      return {
        status: 200,
        body: {
          resourceType: 'Bundle',
          type: 'searchset',
          link: [
            { relation: 'self', url: `${baseUrl}/Observation?${url.searchParams.toString()}` },
            { relation: 'next', url: `${baseUrl}/Observation?_cursor=page2-${patient}&_count=1` },
            { relation: 'last', url: `${baseUrl}/Observation?_offset=1&_count=1&subject=${encodeURIComponent(subject)}` },
          ],
          entry: [{ fullUrl: `${baseUrl}/Observation/first-${patient}`, resource: resource(`first-${patient}`, patient) }],
        },
      };
    }
    if (cursor?.startsWith('page2-')) {
      const owner = cursor.slice('page2-'.length);
      return { status: 200, body: { resourceType: 'Bundle', type: 'searchset', entry: [{ fullUrl: `${baseUrl}/Observation/second-${owner}`, resource: resource(`second-${owner}`, owner) }] } };
    }
    return undefined;
  });
  stack.takeReceived();

  const first = await callFhir(stack, alice, 'GET', '/Observation?_count=1');
  t.equal(first.status, 200);
  const links = Object.fromEntries((first.json.link as { relation: string; url: string }[]).map((l) => [l.relation, l.url]));
  t.equal(links.self, `${base}/Observation?_count=1&subject=Patient%2Fpat-alice`, 'self link keeps the confinement, on the public base');
  t.equal(links.last, `${base}/Observation?_offset=1&_count=1&subject=Patient%2Fpat-alice`, '_offset links restate the search: rewritten, not signed');
  t.match(links.next, new RegExp(`^${base}/Observation\\?_cursor=page2-pat-alice&_count=1&_gw_page=[^&]+&_gw_sig=[^&]+$`), 'opaque cursor link is signed');
  stack.takeReceived();

  const nextPath = links.next!.slice(base.length);
  const second = await callFhir(stack, alice, 'GET', nextPath);
  t.equal(second.status, 200, 'the signed link works for the token it was issued to');
  t.same(entryIds(second.json), ['Observation/second-pat-alice']);
  t.same(stack.takeReceived().map((r) => r.url), ['/fhir/Observation?_cursor=page2-pat-alice&_count=1'], 'forwarded without the gateway parameters');

  const offsetPage = await callFhir(stack, alice, 'GET', links.last!.slice(base.length));
  t.equal(offsetPage.status, 200, 'an _offset link is decided like any search');
  stack.takeReceived();

  // Bob's own link, then Alice trying to use it.
  const bobFirst = await callFhir(stack, bob, 'GET', '/Observation?_count=1');
  const bobNext = (bobFirst.json.link as { relation: string; url: string }[]).find((l) => l.relation === 'next')!.url.slice(base.length);
  stack.takeReceived();
  const borrowed = await callFhir(stack, alice, 'GET', bobNext);
  t.equal(borrowed.status, 403, 'a link issued to another token is refused');
  t.same(stack.takeReceived(), [], 'borrowed link: nothing forwarded');

  const tampered = nextPath.replace('page2-pat-alice', 'page2-pat-bob');
  const tamperedReply = await callFhir(stack, alice, 'GET', tampered);
  t.equal(tamperedReply.status, 403, 'a signed link pointed at another patient’s cursor is refused');
  t.match(tamperedReply.json.issue[0].diagnostics, /altered/);
  t.same(stack.takeReceived(), [], 'tampered link: nothing forwarded');

  // A link crafted from scratch: another patient's search, a made-up signature.
  const forgedPage = Buffer.from(JSON.stringify({ s: '/Observation?subject=Patient%2Fpat-bob', e: Math.floor(Date.now() / 1000) + 600 })).toString('base64url');
  const forged = await callFhir(stack, alice, 'GET', `/Observation?_cursor=page2-pat-bob&_count=1&_gw_page=${forgedPage}&_gw_sig=${'A'.repeat(43)}`);
  t.equal(forged.status, 403, 'a crafted link for another patient’s search is refused');
  t.same(stack.takeReceived(), [], 'crafted link: nothing forwarded');

  const bare = await callFhir(stack, alice, 'GET', '/Observation?_cursor=page2-pat-bob&_count=1&subject=Patient/pat-alice');
  t.equal(bare.status, 403, 'a page id alone never grants access, whatever else the query says');
  t.same(stack.takeReceived(), [], 'bare cursor: nothing forwarded');

  const stray = await callFhir(stack, alice, 'GET', `/Observation?_gw_page=${forgedPage}`);
  t.equal(stray.status, 403, 'gateway paging parameters without a handle are refused');
  t.same(stack.takeReceived(), [], 'stray gateway parameters: nothing forwarded');

  // A validly signed link whose handle the upstream resolves to Bob's data (a confused or hostile
  // upstream): the original search's decision is re-applied, with its response check.
  const signer = new PagingLinkSigner(await pagingKey(stack.gateway.store), 600);
  const signedQuery = signer.signIfPaging('/Observation', new URLSearchParams('_cursor=page2-pat-bob&_count=1'), '/Observation?_count=1&subject=Patient%2Fpat-alice', { sub: 'alice', client_id: 'app', patient: 'pat-alice' });
  const confused = await callFhir(stack, alice, 'GET', `/Observation?${signedQuery.toString()}`);
  t.equal(confused.status, 403, 'a signed page answered with another patient’s data is withheld');
  t.notMatch(confused.text, /second-pat-bob/);
  t.same(stack.takeReceived().map((r) => r.url), ['/fhir/Observation?_cursor=page2-pat-bob&_count=1']);

  const expiredQuery = signer.signIfPaging('/Observation', new URLSearchParams('_cursor=page2-pat-alice&_count=1'), '/Observation?_count=1&subject=Patient%2Fpat-alice', { sub: 'alice', client_id: 'app', patient: 'pat-alice' }, Math.floor(Date.now() / 1000) - 3600);
  const expired = await callFhir(stack, alice, 'GET', `/Observation?${expiredQuery.toString()}`);
  t.equal(expired.status, 403, 'an expired link is refused');
  t.match(expired.json.issue[0].diagnostics, /expired/);
  t.same(stack.takeReceived(), [], 'expired link: nothing forwarded');
});

t.test('GET /metadata advertises the gateway’s SMART security', async (t) => {
  const stack = await startStack(t, { store: 'memory' });
  const base = stack.gateway.url;
  const res = await fetch(`${base}/metadata`);
  t.equal(res.status, 200, 'public: no token needed');
  const text = await res.text();
  const statement = JSON.parse(text);
  t.equal(statement.resourceType, 'CapabilityStatement');
  const security = statement.rest[0].security;
  t.same(security.service[0].coding[0], {
    system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
    code: 'SMART-on-FHIR',
    display: 'SMART-on-FHIR',
  });
  const oauthUris = security.extension.find((e: { url: string }) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
  const uris = Object.fromEntries(oauthUris.extension.map((e: { url: string; valueUri: string }) => [e.url, e.valueUri]));
  t.same(uris, {
    authorize: `${base}/oauth/authorize`,
    token: `${base}/oauth/token`,
    introspect: `${base}/oauth/introspect`,
    revoke: `${base}/oauth/revoke`,
  });
  t.equal(statement.implementation.url, base, 'implementation.url is the public base');
  t.notOk(text.includes(stack.upstream.baseUrl), 'the upstream base never reaches the client');
  t.ok(statement.rest[0].resource.length > 0, 'the upstream’s resources are kept');

  const head = await fetch(`${base}/metadata`, { method: 'HEAD' });
  t.equal(head.status, 200, 'HEAD /metadata');
  const xml = await fetch(`${base}/metadata?_format=xml`);
  t.equal((await xml.json()).resourceType, 'CapabilityStatement', 'always JSON (the gateway edits it)');
});

t.test('history and search Bundles of a system token carry no upstream URL', async (t) => {
  const stack = await startStack(t, { store: 'memory' });
  await stack.upstream.seed(twoPatientRecords());
  const system = await mintToken(stack, { sub: 'backend', client_id: 'backend', scope: 'system/*.rs' });
  const upstreamBase = stack.upstream.baseUrl;
  for (const path of ['/Observation', '/Observation/obs-bob-hr/_history', '/Patient?_id=pat-bob']) {
    const reply = await callFhir(stack, system, 'GET', path);
    t.equal(reply.status, 200, `${path}: 200`);
    t.notOk(reply.text.includes(upstreamBase), `${path}: no upstream URL in the body`);
    t.ok(reply.json.entry.every((e: { fullUrl: string }) => e.fullUrl.startsWith(stack.gateway.url)), `${path}: fullUrls on the public base`);
  }
});
