import type { FhirAnswer, FhirReader } from '../../authz/oauth/patient-directory.js';
import { exchangeBuffered, parseJsonBody } from '../upstream/buffered-exchange.js';
import { UpstreamError, type Forwarder } from '../upstream/forwarder.js';

/**
 * The authorization server's reads of the upstream FHIR server (the patient picker), through the
 * gateway's own upstream connection: the same forwarder the proxy uses, so the same base URL,
 * timeout, TLS and upstream credentials. Answers larger than `limit` bytes (proxy.max_buffered_body)
 * are not read.
 */
export function upstreamFhirReader(forwarder: Forwarder, limit: () => number): FhirReader {
  return {
    async get(pathAndQuery: string): Promise<FhirAnswer> {
      try {
        const response = await exchangeBuffered(forwarder, { method: 'GET', path: pathAndQuery, headers: { accept: 'application/fhir+json' } }, limit());
        if (!response.ok) return { ok: false, problem: 'the answer was too large' };
        return { ok: true, status: response.status, body: parseJsonBody(response.headers, response.bytes) };
      } catch (err) {
        if (err instanceof UpstreamError) return { ok: false, problem: err.kind === 'timeout' ? 'it did not answer in time' : 'it could not be reached' };
        throw err;
      }
    },
  };
}
