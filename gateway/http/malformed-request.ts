import type { ServerResponse } from 'node:http';
import { lingeringClose } from '../../authz/lingering-close.js';
import { malformedRequest } from '../proxy/refusals.js';
import { writeRefusal } from '../proxy/respond.js';

/**
 * Answers a request the front door refuses before routing it (a bad Host): 400, and the
 * connection closes (lingering: the client may still be sending a body). A FHIR path gets an
 * OperationOutcome like every FHIR refusal; the others (OAuth, operations) an RFC 6749 style JSON
 * error, the shape the OAuth endpoints answer in.
 */
export function refuseMalformedRequest(res: ServerResponse, fhir: boolean, problem: string): void {
  const description = `Bad request: ${problem}`;
  if (fhir) {
    writeRefusal(res, malformedRequest(description));
    return;
  }
  const body = JSON.stringify({ error: 'invalid_request', error_description: description });
  lingeringClose(res.req, res);
  res.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
