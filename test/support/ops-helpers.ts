import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A client-credentials token from a gateway's token endpoint (Basic auth). */
export async function clientToken(baseUrl: string, clientId: string, secret: string, scope: string): Promise<string> {
  const res = await tokenRequest(baseUrl, clientId, secret, scope);
  const body = (await res.json()) as { access_token?: string; error?: string };
  if (res.status !== 200 || !body.access_token) throw new Error(`token request for ${clientId} failed: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

export function tokenRequest(baseUrl: string, clientId: string, secret: string, scope: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: basic(clientId, secret),
      'content-type': 'application/x-www-form-urlencoded',
      ...headers,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  });
}

/**
 * `count` concurrent authorized GETs of `path`, each on a new connection (no keep-alive) so a
 * cluster primary deals them across its workers; their statuses, in order.
 */
export function statusesOnFreshConnections(baseUrl: string, token: string, path: string, count: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${token}`, connection: 'close' } });
      await res.arrayBuffer();
      return res.status;
    }),
  );
}

/** A client_secret_basic Authorization header (RFC 6749 §2.3.1: id and secret form-encoded first). */
export function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** The kid in a JWT's header. */
export function kidOf(jwt: string): string {
  return (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string }).kid;
}

export interface SlowUpstream {
  baseUrl: string;
  server: Server;
  /** Requests received so far (counted when they arrive, before the delayed answer). */
  received(): number;
  close(): Promise<void>;
}

/** A FHIR upstream that answers every read with a Patient after `delayMs`. */
export async function startSlowUpstream(delayMs: number): Promise<SlowUpstream> {
  let count = 0;
  const server = createServer((req, res) => {
    count++;
    req.resume();
    const id = (req.url ?? '').split('?')[0]!.split('/').pop() ?? 'x';
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify({ resourceType: 'Patient', id, name: [{ family: 'Slow' }] }));
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`,
    server,
    received: () => count,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Runs `tasks` with at most `concurrency` at a time; results in order. */
export async function pooled<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** One sample of a Prometheus text exposition, e.g. metric('fhirgw_requests_total', { decision: 'allow' }). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      total += Number(match[4]);
      found = true;
    }
  }
  return found ? total : 0;
}
