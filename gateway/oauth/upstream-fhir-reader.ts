import type { FhirAnswer, FhirReader } from '../../authz/oauth/patient-directory.js';
import { upstreamRefusal } from '../proxy/refusals.js';
import { exchangeBuffered, parseJsonBody } from '../upstream/buffered-exchange.js';
import type { UpstreamSender } from '../upstream/upstream-client.js';

/**
 * The authorization server's reads of the upstream FHIR server (the patient picker), through the
 * gateway's upstream client: the same base URL, timeout, TLS and upstream credentials as the
 * proxy. Answers larger than `limit` bytes (proxy.max_buffered_body) are not read. A failure is
 * said the way the proxy says it (unreachable, timeout, certificate, credentials).
 */
export function upstreamFhirReader(upstream: UpstreamSender, limit: () => number): FhirReader {
  return {
    async get(pathAndQuery: string): Promise<FhirAnswer> {
      try {
        const response = await exchangeBuffered(upstream, { method: 'GET', path: pathAndQuery, headers: { accept: 'application/fhir+json' } }, limit());
        if (!response.ok) return { ok: false, problem: 'the answer was too large' };
        return { ok: true, status: response.status, body: parseJsonBody(response.headers, response.bytes) };
      } catch (err) {
        return { ok: false, problem: upstreamRefusal(err).diagnostics };
      }
    },
  };
}
