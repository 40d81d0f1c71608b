import t from 'tap';
import { auditedSearch } from '../../../gateway/proxy/audited-search.js';
import type { DecisionInput } from '../../../gateway/proxy/paging.js';

/** The search a BALP AuditEvent records: as the client sent it, for searches and conditional interactions only. */

function input(method: string, target: string, headers: Record<string, string> = {}, pagedSearch?: string): DecisionInput {
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const rawQuery = q < 0 ? '' : target.slice(q + 1);
  return { facts: { method, rawPath, query: new URLSearchParams(rawQuery), headers }, forwardQuery: rawQuery, pagedSearch };
}

const form = (text: string) => ({ bytes: Buffer.from(text), parsed: new URLSearchParams(text) });

t.test('searches: the path and the query, undecoded, exactly as sent', async (t) => {
  t.equal(auditedSearch('search-type', input('GET', '/Observation?code=http%3A%2F%2Floinc.org%7C8867-4&_count=5')), '/Observation?code=http%3A%2F%2Floinc.org%7C8867-4&_count=5');
  t.equal(auditedSearch('search-system', input('GET', '/?_type=Patient')), '/?_type=Patient');
  t.equal(auditedSearch('search-compartment', input('GET', '/Patient/p1/Observation?code=x')), '/Patient/p1/Observation?code=x');
  t.equal(auditedSearch('search-type', input('GET', '/Observation')), '/Observation', 'no query: the path alone');
});

t.test('a POST _search: its form body joined to the query once read; by its URL before', async (t) => {
  const post = input('POST', '/Observation/_search?_count=2');
  t.equal(auditedSearch('search-type', post), '/Observation/_search?_count=2', 'refused before the body was read');
  t.equal(auditedSearch('search-type', post, form('code=8867-4&patient=p1')), '/Observation/_search?_count=2&code=8867-4&patient=p1');
  t.equal(auditedSearch('search-type', input('POST', '/Observation/_search'), form('code=8867-4')), '/Observation/_search?code=8867-4');
  t.equal(auditedSearch('search-type', input('POST', '/Observation/_search'), { bytes: Buffer.from('{"a":1}'), parsed: { a: 1 } }), '/Observation/_search', 'a JSON body is no search');
});

t.test('conditional interactions: their criteria', async (t) => {
  t.equal(auditedSearch('conditional-create', input('POST', '/Patient', { 'if-none-exist': 'identifier=urn:mrn|123' })), '/Patient?identifier=urn:mrn|123');
  t.equal(auditedSearch('conditional-update', input('PUT', '/Patient?identifier=urn:mrn|123')), '/Patient?identifier=urn:mrn|123');
  t.equal(auditedSearch('conditional-patch', input('PATCH', '/Patient?identifier=x')), '/Patient?identifier=x');
  t.equal(auditedSearch('conditional-delete', input('DELETE', '/Patient?identifier=x')), '/Patient?identifier=x');
});

t.test('a signed paging link: the search it continues, not its opaque handle', async (t) => {
  const link = input('GET', '/?_getpages=abc&_getpagesoffset=10&_gw_sig=xyz', {}, '/Observation?patient=p1');
  t.equal(auditedSearch('search-type', link), '/Observation?patient=p1');
});

t.test('other interactions record no search', async (t) => {
  for (const interaction of ['read', 'vread', 'create', 'update', 'patch', 'delete', 'history-type', 'batch', 'operation-type', 'capabilities']) {
    t.equal(auditedSearch(interaction, input('GET', '/Observation/1?_format=json')), undefined, interaction);
  }
});
