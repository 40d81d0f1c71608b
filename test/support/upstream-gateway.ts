import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { issueAccessToken } from '../../authz/tokens/access-token.js';
import { generateSigningJwk, loadKeyRing } from '../../authz/tokens/signing-keys.js';
import { MemoryStore } from '../../gateway/store/memory-store.js';
import { freePort } from './free-port.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { baseRawConfig } from './stack.js';

/**
 * The gateway as an operator runs it (the compiled CLI), in front of a given upstream, with an
 * upstream section of the test's choosing. Its signing key comes from a file the test also
 * holds, so the test mints access tokens with any claims (a user, a patient context) the way
 * the gateway's own token endpoint would.
 */

export type ForwarderKind = 'http-proxy' | 'undici';
export const FORWARDERS: readonly ForwarderKind[] = ['http-proxy', 'undici'];

export interface TokenSubject {
  sub: string;
  client_id?: string;
  scope: string;
  patient?: string;
  fhirUser?: string;
}

export interface UpstreamGateway {
  gw: GatewayProcess;
  /** An access token of this gateway (client_id defaults to `app`). */
  mint(subject: TokenSubject): Promise<string>;
  /** `fetch` on the gateway with a bearer token. */
  call(token: string, method: string, path: string, init?: { body?: string; headers?: Record<string, string> }): Promise<GatewayAnswer>;
  /** Prometheus text of /metrics. */
  metrics(): Promise<string>;
}

export interface GatewayAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: any;
}

export interface UpstreamGatewayOptions {
  /** The raw `upstream:` section (url and any auth, tls, identity). */
  upstream: Record<string, unknown>;
  forwarder?: ForwarderKind;
  env?: NodeJS.ProcessEnv;
  /** Changes the raw config before the gateway starts (the process waits for /healthz only; /readyz is the test's to ask). */
  edit?: (raw: Record<string, any>) => void;
}

export async function startUpstreamGateway(t: Test, options: UpstreamGatewayOptions): Promise<UpstreamGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'fhirgw-upstream-gw-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'signing-key.json');
  writeFileSync(keyFile, JSON.stringify(await generateSigningJwk()));
  const ring = await loadKeyRing({ signingKeyFile: keyFile, store: new MemoryStore(), log: { info: () => undefined } });

  const port = await freePort();
  const raw = baseRawConfig(port, String(options.upstream['url']));
  raw.upstream = { timeout: '5s', ...options.upstream, ...(options.forwarder !== undefined ? { forwarder: options.forwarder } : {}) };
  raw.tokens = { ...raw.tokens, signing_key_file: keyFile };
  options.edit?.(raw);
  const gw = await startGatewayProcess(t, { config: raw, ...(options.env !== undefined ? { env: options.env } : {}) });
  const publicUrl = `http://127.0.0.1:${port}`;
  const settings = { issuer: publicUrl, audience: publicUrl, ttlSeconds: 300, clockSkewSeconds: 30 };

  return {
    gw,
    async mint(subject) {
      return (await issueAccessToken(ring, settings, { client_id: 'app', ...subject })).token;
    },
    call: (token, method, path, init = {}) => callGateway(gw.url, method, path, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } }),
    metrics: async () => (await fetch(`${gw.url}/metrics`)).text(),
  };
}

/**
 * One request with node:http, so the headers go out exactly as written (a test sends spoofed
 * identity headers in spellings fetch would refuse or fold).
 */
export function callGateway(base: string, method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}): Promise<GatewayAnswer> {
  const target = new URL(base);
  const headers: Record<string, string> = {
    ...(init.body !== undefined ? { 'content-type': 'application/fhir+json', 'content-length': String(Buffer.byteLength(init.body)) } : {}),
    ...init.headers,
  };
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: target.hostname, port: target.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** The diagnostics of an OperationOutcome answer (the first issue). */
export function diagnosticsOf(answer: GatewayAnswer): string {
  return String(answer.json?.issue?.[0]?.diagnostics ?? '');
}
