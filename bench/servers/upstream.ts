/**
 * (a) The "FHIR server": a trivial node:http server answering every request with the same
 * ~1 KB Patient search Bundle as application/fhir+json. Nothing else, so the rows above it
 * measure the proxies, not the upstream.
 *
 *   node --import tsx bench/servers/upstream.ts [--port 0]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { arg, serveChild } from './child-protocol.js';

export const PATIENT_BUNDLE = Buffer.from(
  JSON.stringify({
    resourceType: 'Bundle',
    id: 'bench-search-0001',
    meta: { lastUpdated: '2025-01-01T00:00:00.000Z' },
    type: 'searchset',
    total: 1,
    link: [{ relation: 'self', url: 'http://upstream.local/fhir/Patient?name=smith' }],
    entry: [
      {
        fullUrl: 'http://upstream.local/fhir/Patient/pat-0001',
        resource: {
          resourceType: 'Patient',
          id: 'pat-0001',
          meta: { versionId: '3', lastUpdated: '2024-12-31T12:00:00.000Z' },
          text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Jane Smith, born 1970-04-12</div>' },
          identifier: [{ use: 'usual', system: 'urn:oid:1.2.36.146.595.217.0.1', value: '12345' }],
          active: true,
          name: [{ use: 'official', family: 'Smith', given: ['Jane', 'Elizabeth'] }],
          telecom: [
            { system: 'phone', value: '(03) 5555 6473', use: 'work', rank: 1 },
            { system: 'email', value: 'jane.smith@example.org', use: 'home' },
          ],
          gender: 'female',
          birthDate: '1970-04-12',
          address: [{ use: 'home', line: ['534 Erewhon St'], city: 'PleasantVille', postalCode: '3999', country: 'AU' }],
          managingOrganization: { reference: 'Organization/org-0001', display: 'Example Hospital' },
        },
        search: { mode: 'match', score: 1 },
      },
    ],
  }),
);

async function main(): Promise<void> {
  const port = Number(arg('port', '0'));
  const headers = {
    'content-type': 'application/fhir+json; charset=utf-8',
    'content-length': String(PATIENT_BUNDLE.length),
  };
  const server = createServer((req, res) => {
    // Drain any request body, then answer.
    req.resume();
    res.writeHead(200, headers);
    res.end(PATIENT_BUNDLE);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  serveChild(`http://127.0.0.1:${bound}`, {}, () => new Promise<void>((r) => server.close(() => r())));
}

await main();
