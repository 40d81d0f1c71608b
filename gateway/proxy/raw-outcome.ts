import type { ServerResponse } from 'node:http';
import { operationOutcome, type IssueType } from './operation-outcome.js';

/** For responses written after Koa has handed the socket to the forwarder (ctx.respond = false). */
export function sendOutcomeRaw(res: ServerResponse, status: number, code: IssueType, diagnostics: string): void {
  const body = JSON.stringify(operationOutcome([{ severity: 'error', code, diagnostics }]));
  res.writeHead(status, {
    'content-type': 'application/fhir+json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
