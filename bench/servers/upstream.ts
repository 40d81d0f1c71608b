/**
 * (a) The "FHIR server": a trivial node:http server with fixed answers, so the rows above it
 * measure the proxies, not the upstream:
 *   GET {base}/Patient/{id}      a ~1 KB Patient (application/fhir+json)
 *   GET {base}/Patient?...       a ~1 KB searchset Bundle of 10 small Patients, with fullUrls and a
 *                                `next` link (a HAPI-style `_getpages` handle) under the upstream's
 *                                real base URL, as a FHIR server answers: the gateway rewrites and
 *                                signs them
 *   GET {base}/metadata          a small CapabilityStatement
 *
 *   node --expose-gc dist/bench/servers/upstream.js [--port 0]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { arg, serveChild } from './child-protocol.js';

/** Where the bench puts the FHIR base on this server. */
export const FHIR_BASE_PATH = '/fhir';

export const PATIENT = Buffer.from(
  JSON.stringify({
    resourceType: 'Patient',
    id: 'example',
    meta: { versionId: '3', lastUpdated: '2024-12-31T12:00:00.000Z' },
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Jane Smith, born 1970-04-12, 534 Erewhon St, PleasantVille</div>' },
    identifier: [
      { use: 'usual', system: 'urn:oid:1.2.36.146.595.217.0.1', value: '12345' },
      { use: 'official', system: 'http://hospital.example.org/mrn', value: 'MRN-0001-7788' },
    ],
    active: true,
    name: [
      { use: 'official', family: 'Smith', given: ['Jane', 'Elizabeth'] },
      { use: 'maiden', family: 'Jones', given: ['Jane'] },
    ],
    telecom: [
      { system: 'phone', value: '(03) 5555 6473', use: 'work', rank: 1 },
      { system: 'email', value: 'jane.smith@example.org', use: 'home' },
    ],
    gender: 'female',
    birthDate: '1970-04-12',
    address: [{ use: 'home', line: ['534 Erewhon St'], city: 'PleasantVille', district: 'Rainbow', postalCode: '3999', country: 'AU' }],
    maritalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M' }] },
    managingOrganization: { reference: 'Organization/org-0001', display: 'Example Hospital' },
  }),
);

/** A searchset of 10 entries, about 1 KB, its URLs under `base`. */
export function searchBundle(base: string): Buffer {
  const entries = Array.from({ length: 10 }, (_, i) => {
    const id = `p${String(i).padStart(2, '0')}`;
    return { fullUrl: `${base}/Patient/${id}`, resource: { resourceType: 'Patient', id, active: true }, search: { mode: 'match' } };
  });
  return Buffer.from(
    JSON.stringify({
      resourceType: 'Bundle',
      type: 'searchset',
      total: 40,
      link: [
        { relation: 'self', url: `${base}/Patient?name=smith&_count=10` },
        { relation: 'next', url: `${base}?_getpages=8c0d2f7e-4b1a&_getpagesoffset=10&_count=10&_bundletype=searchset` },
      ],
      entry: entries,
    }),
  );
}

const CAPABILITIES = Buffer.from(JSON.stringify({ resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1', format: ['json'] }));

async function main(): Promise<void> {
  const port = Number(arg('port', '0'));
  const server = createServer((req, res) => {
    // Drain any request body, then answer.
    req.resume();
    const url = req.url ?? '/';
    const body = url.startsWith(`${FHIR_BASE_PATH}/Patient/`) ? PATIENT : url.startsWith(`${FHIR_BASE_PATH}/metadata`) ? CAPABILITIES : bundle;
    res.writeHead(200, { 'content-type': 'application/fhir+json; charset=utf-8', 'content-length': String(body.length) });
    res.end(body);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  const bundle = searchBundle(`http://127.0.0.1:${bound}${FHIR_BASE_PATH}`);
  serveChild(`http://127.0.0.1:${bound}`, {}, () => new Promise<void>((r) => server.close(() => r())));
}

await main();
