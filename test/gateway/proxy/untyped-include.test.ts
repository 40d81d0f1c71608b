import t from 'tap';
import { startScriptedUpstream } from '../../support/scripted-upstream.js';
import { diagnosticsOf, FORWARDERS, startUpstreamGateway } from '../../support/upstream-gateway.js';

/**
 * Issue 12, item 6, through the CLI-started gateway: an untyped `_include` whose parameter may
 * point at types the token cannot read is forwarded when some target type is readable, and the
 * included resources of the other types are withheld from the answer, with an OperationOutcome
 * entry saying so. The upstream is scripted to return every kind of entry a server may send.
 */

const QUERY = 'subject=Patient/p1&_include=Observation:subject';

function searchAnswer(baseUrl: string): unknown {
  const entry = (resourceType: string, id: string, mode?: string) => ({
    fullUrl: `${baseUrl}/${resourceType}/${id}`,
    resource: { resourceType, id, ...(resourceType === 'Observation' ? { status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1' } } : {}) },
    ...(mode !== undefined ? { search: { mode } } : {}),
  });
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: 1,
    link: [{ relation: 'self', url: `${baseUrl}/Observation?${QUERY}` }],
    entry: [entry('Observation', 'o1', 'match'), entry('Patient', 'p1', 'include'), entry('Group', 'g1', 'include'), entry('Device', 'd1'), entry('Location', 'l1', 'include')],
  };
}

for (const forwarder of FORWARDERS) {
  t.test(`untyped _include, ${forwarder} forwarder`, async (t) => {
    const upstream = await startScriptedUpstream();
    t.teardown(() => upstream.close());
    upstream.script(({ url, baseUrl }) => {
      if (!url.pathname.endsWith('/Observation')) return undefined;
      // code=xml: the same search answered in a format the gateway cannot filter.
      if (url.searchParams.get('code') === 'xml') return { status: 200, body: '<Bundle/>', headers: { 'content-type': 'application/fhir+xml' } };
      return { status: 200, body: searchAnswer(baseUrl) };
    });
    const gw = await startUpstreamGateway(t, { upstream: { url: upstream.baseUrl }, forwarder });
    const token = await gw.mint({ sub: 'backend', scope: 'system/Observation.rs system/Patient.rs' });

    const seen = upstream.received.length;
    const answer = await gw.call(token, 'GET', `/Observation?${QUERY}`);
    t.equal(answer.status, 200, `allowed (${answer.text.slice(0, 200)})`);
    const forwarded = upstream.received.slice(seen);
    t.equal(forwarded.length, 1, 'one request upstream');
    t.match(forwarded[0]?.url, /\/Observation\?subject=Patient%2Fp1&_include=Observation%3Asubject$|\/Observation\?subject=Patient\/p1&_include=Observation:subject$/, 'the search as asked');

    const entries: any[] = answer.json.entry;
    t.same(
      entries.filter((e) => e.resource.resourceType !== 'OperationOutcome').map((e) => `${e.resource.resourceType}/${e.resource.id}`),
      ['Observation/o1', 'Patient/p1'],
      'the match and the readable include are kept; Group, Device (no search mode) and Location are withheld',
    );
    const outcome = entries.find((e) => e.resource.resourceType === 'OperationOutcome');
    t.same(outcome?.search, { mode: 'outcome' }, 'an outcome entry says what was withheld');
    t.match(outcome?.resource.issue[0], { severity: 'warning', code: 'suppressed', diagnostics: /Withheld 3 included resources .*1 Device, 1 Group, 1 Location/ });
    t.notOk(answer.text.includes(upstream.baseUrl), 'URLs still rewritten to the gateway');
    t.equal(answer.json.link[0].url.startsWith(gw.gw.url), true, 'the self link names the gateway');

    const none = await gw.call(await gw.mint({ sub: 'backend', scope: 'system/Observation.rs' }), 'GET', `/Observation?${QUERY}`);
    t.equal(none.status, 403, 'no readable target type: refused');
    t.match(diagnosticsOf(none), /none of which this token can read/);
    const chained = await gw.call(token, 'GET', '/Observation?subject.name=peter&_include=Observation:subject');
    t.equal(chained.status, 403, 'a chain through unreadable types stays refused');
    t.equal(upstream.received.length, seen + 1, 'neither refusal reached the upstream');

    // An answer the gateway cannot read cannot be filtered: refused, not passed through.
    const xml = await gw.call(token, 'GET', `/Observation?code=xml&${QUERY}`);
    t.equal(xml.status, 403, 'a non-JSON answer to a filtered search is withheld');
    t.notOk(xml.text.includes('<Bundle'), 'nothing of it reaches the client');
  });
}
