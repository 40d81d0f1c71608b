import { Readable } from 'node:stream';
import t from 'tap';
import { readBounded } from '../../../gateway/upstream/bounded-read.js';
import { rewriteJsonUrls } from '../../../gateway/proxy/json-url-rewrite.js';
import { gatewayCapabilityStatement } from '../../../gateway/proxy/capability-statement.js';
import { applyJsonPatch } from '../../../authz/smart/json-patch.js';
import { PagingLinkSigner } from '../../../gateway/proxy/paging-links.js';
import { resourceCheckProblem } from '../../../authz/smart/resource-check.js';

t.test('applyJsonPatch applies RFC 6902 exactly or throws', async (t) => {
  const doc = { a: { b: [1, 2] }, c: 'x' };
  t.same(applyJsonPatch(doc, [{ op: 'add', path: '/a/b/-', value: 3 }, { op: 'replace', path: '/c', value: 'y' }, { op: 'remove', path: '/a/b/0' }]), { a: { b: [2, 3] }, c: 'y' });
  t.same(applyJsonPatch(doc, [{ op: 'move', from: '/c', path: '/d' }]), { a: { b: [1, 2] }, d: 'x' });
  t.same(doc, { a: { b: [1, 2] }, c: 'x' }, 'the input is not modified');
  t.throws(() => applyJsonPatch(doc, [{ op: 'replace', path: '/missing', value: 1 }]), 'replace of a missing member');
  t.throws(() => applyJsonPatch(doc, [{ op: 'test', path: '/c', value: 'z' }]), 'failed test');
  t.throws(() => applyJsonPatch(doc, { op: 'add' }), 'not an array');
});

t.test('resourceCheckProblem recurses into Bundles and fails closed', async (t) => {
  const obs = (patient: string) => ({ resourceType: 'Observation', id: patient, subject: { reference: `Patient/${patient}` } });
  const check = { compartmentPatient: 'a' };
  t.equal(resourceCheckProblem(obs('a'), check), undefined);
  t.match(resourceCheckProblem(obs('b'), check), /not in Patient\/a/);
  const nested = { resourceType: 'Bundle', entry: [{ resource: obs('a') }, { resource: { resourceType: 'Bundle', entry: [{ resource: obs('b') }] } }] };
  t.match(resourceCheckProblem(nested, check), /Bundle\.entry\[1\]: Bundle\.entry\[0\]/, 'nested Bundle entry found');
  t.equal(resourceCheckProblem({ resourceType: 'OperationOutcome', issue: [] }, check), undefined, 'OperationOutcome passes');
  t.equal(resourceCheckProblem({ resourceType: 'Bundle', entry: [{ response: { status: '204' } }] }, check), undefined, 'entries without a resource show nothing');
  t.ok(resourceCheckProblem('<xml/>', check), 'not a resource: refused');
  t.ok(resourceCheckProblem({ resourceType: 'Bundle', entry: 'x' }, check), 'malformed Bundle: refused');
});

t.test('URLs under the upstream base move to the public base; other URLs are left alone', async (t) => {
  const bundle = {
    resourceType: 'Bundle',
    link: [
      { relation: 'next', url: 'http://up/fhir?_getpages=x' },
      { relation: 'other', url: 'https://elsewhere/x' },
    ],
    entry: [{ fullUrl: 'http://up/fhir/Patient/1', response: { location: 'http://up/fhir/Patient/1/_history/2' } }, { fullUrl: 'urn:uuid:1' }],
  };
  const seen: string[] = [];
  const rewrite = {
    upstreamBase: 'http://up/fhir',
    publicBase: 'https://gw',
    signPagingLink: (path: string, query: URLSearchParams) => {
      seen.push(`${path}?${query.toString()}`);
      return new URLSearchParams([...query, ['signed', '1']]);
    },
  };
  const expected = {
    resourceType: 'Bundle',
    link: [{ relation: 'next', url: 'https://gw?_getpages=x&signed=1' }, { relation: 'other', url: 'https://elsewhere/x' }],
    entry: [{ fullUrl: 'https://gw/Patient/1', response: { location: 'https://gw/Patient/1/_history/2' } }, { fullUrl: 'urn:uuid:1' }],
  };
  const changed = rewriteJsonUrls(JSON.stringify(bundle), rewrite);
  t.same(JSON.parse(changed!), expected);
  t.same(seen, ['/?_getpages=x'], 'the base itself is the path "/" for signing');

  // The same document spelled with escaped slashes (valid JSON) is read by the parser instead.
  seen.length = 0;
  const escaped = JSON.stringify(bundle).replace(/\//g, '\\/');
  t.same(JSON.parse(rewriteJsonUrls(escaped, rewrite)!), expected, 'http:\\/\\/ spellings too');
  t.same(seen, ['/?_getpages=x']);

  const noop = { ...rewrite, signPagingLink: (_p: string, q: URLSearchParams) => q };
  t.equal(rewriteJsonUrls(JSON.stringify({ resourceType: 'Bundle', link: [{ url: 'http://up/fhirx/y' }] }), noop), undefined, 'a longer prefix is not the base');
  t.equal(rewriteJsonUrls(JSON.stringify({ resourceType: 'Bundle', link: [{ url: 'https://gw/x' }] }), noop), undefined, 'nothing to move: undefined');
  const data = JSON.stringify({ resourceType: 'Observation', subject: { reference: 'http://up/fhir/Patient/1' }, note: [{ text: 'see http://up/fhir/Patient/1 "quoted"' }] });
  t.same(JSON.parse(rewriteJsonUrls(data, noop)!), {
    resourceType: 'Observation',
    subject: { reference: 'https://gw/Patient/1' },
    note: [{ text: 'see http://up/fhir/Patient/1 "quoted"' }],
  }, 'an absolute reference is a URL under the base; a URL inside prose is not a URL value');
  const quotedInProse = JSON.stringify({ note: 'he said "http://up/fhir/Patient/1" twice', url: 'http://up/fhir/Patient/2' });
  t.same(JSON.parse(rewriteJsonUrls(quotedInProse, noop)!), { note: 'he said "http://up/fhir/Patient/1" twice', url: 'https://gw/Patient/2' }, 'an escaped quote before the base is prose, not a value');
  t.equal(rewriteJsonUrls('{"url":"http://up/fhir/x', noop), undefined, 'not JSON: left as it is');
});

t.test('paging links are bound to path, query, identity and time', async (t) => {
  const signer = new PagingLinkSigner(Buffer.alloc(32, 7), 60);
  const alice = { sub: 'alice', client_id: 'app', patient: 'a' };
  const signed = signer.signIfPaging('/', new URLSearchParams('_getpages=p1&_getpagesoffset=10'), '/Observation?subject=Patient%2Fa', alice, 1000);
  t.same(signer.check('/', signed, alice, 1010), { kind: 'signed', originalSearch: '/Observation?subject=Patient%2Fa', forwardQuery: '_getpages=p1&_getpagesoffset=10' });
  t.equal(signer.check('/', signed, { ...alice, patient: 'b' }, 1010).kind, 'invalid', 'another patient context');
  t.equal(signer.check('/', signed, { ...alice, client_id: 'other' }, 1010).kind, 'invalid', 'another client');
  t.equal(signer.check('/Observation', signed, alice, 1010).kind, 'invalid', 'another path');
  t.equal(signer.check('/', signed, alice, 1061).kind, 'invalid', 'expired');
  const altered = new URLSearchParams(signed);
  altered.set('_getpagesoffset', '20');
  t.equal(signer.check('/', altered, alice, 1010).kind, 'invalid', 'altered query');
  t.same(signer.signIfPaging('/Observation', new URLSearchParams('_offset=10'), '/x', alice).toString(), '_offset=10', '_offset links are not signed');
  t.equal(new PagingLinkSigner(Buffer.alloc(32, 8), 60).check('/', signed, alice, 1010).kind, 'invalid', 'another key');
});

t.test('readBounded stops at the limit', async (t) => {
  t.same(await readBounded(Readable.from([Buffer.from('abc'), Buffer.from('def')]), 6), { ok: true, bytes: Buffer.from('abcdef') });
  const tooLarge = Readable.from([Buffer.from('abc'), Buffer.from('defg'), Buffer.from('h')]);
  t.same(await readBounded(tooLarge, 6), { ok: false, tooLarge: true });
  t.notOk(tooLarge.destroyed, 'a stream too large is left to the caller (a client body is discarded, not cut: issue 12, item 4)');
  t.equal((await tooLarge.toArray()).join(''), 'h', 'and the rest can still be read');
});

t.test('gatewayCapabilityStatement', async (t) => {
  t.equal(gatewayCapabilityStatement({ resourceType: 'Patient' }, 'https://gw'), undefined, 'not a CapabilityStatement');
  const statement = gatewayCapabilityStatement({ resourceType: 'CapabilityStatement', rest: [{ mode: 'server', security: { cors: false } }] }, 'https://gw')!;
  const rest = (statement['rest'] as { security: { service: { coding: { code: string }[] }[] } }[])[0]!;
  t.equal(rest.security.service[0]!.coding[0]!.code, 'SMART-on-FHIR', 'upstream security replaced by the gateway’s');
});
