import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { lingeringClose } from '../../authz/lingering-close.js';
import { joinVary } from '../upstream/response-headers.js';
import { operationOutcome } from './operation-outcome.js';
import type { Refusal } from './refusals.js';

/** An answer the gateway composed itself from what the upstream said (an inspected response, /metadata). */
export interface Reply {
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer;
}

/**
 * The one place that writes a refusal: an OperationOutcome with the refusal's status and
 * headers, never cached (it may describe a patient's data). Headers set earlier on the response
 * (X-Request-Id, CORS, RateLimit-*) stay.
 */
export function writeRefusal(res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent || res.destroyed) {
    // Too late for an answer of our own: cut the connection so the client sees a failure, not a truncated success.
    res.destroy();
    return;
  }
  const body = JSON.stringify(
    operationOutcome([{ severity: 'error', code: refusal.issue, diagnostics: refusal.diagnostics }, ...(refusal.extraIssues ?? [])]),
  );
  if (refusal.headers) for (const [name, value] of Object.entries(refusal.headers)) res.setHeader(name, value);
  if (refusal.closesConnection) lingeringClose(res.req, res);
  res.writeHead(refusal.status, {
    'content-type': 'application/fhir+json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/**
 * Writes a composed answer (framing headers are the gateway's: the bytes may differ from the
 * upstream's). A Vary joins the one the gateway set earlier (CORS) instead of replacing it.
 */
export function writeReply(res: ServerResponse, reply: Reply): void {
  for (const [name, value] of Object.entries(reply.headers)) {
    if (value === undefined) continue;
    res.setHeader(name, name.toLowerCase() === 'vary' ? joinVary(res.getHeader('vary'), value) : value);
  }
  res.removeHeader('transfer-encoding');
  res.removeHeader('content-encoding');
  res.setHeader('content-length', reply.body.length);
  res.writeHead(reply.status);
  res.end(reply.body);
}
