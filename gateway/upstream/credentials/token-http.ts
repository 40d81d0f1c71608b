/**
 * The HTTP the credentials speak: POSTing a form to a token endpoint and GETting discovery
 * metadata, through one undici Agent that carries upstream.tls's settings and gives up after
 * upstream.timeout. Answers are read up to a size limit and parsed as JSON; failures become
 * UpstreamCredentialsErrors whose messages hold no request content.
 */
import { Agent, errors as undiciErrors, request, type Dispatcher } from 'undici';
import { describeTlsFailure, tlsConnector, type TlsConnectOptions } from '../tls.js';
import { UpstreamCredentialsError } from './upstream-credentials.js';

/** A token response or metadata document is a few KiB; anything this large is not one. */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface JsonAnswer {
  status: number;
  /** The parsed body; undefined when it is not JSON. */
  json: unknown;
}

export interface TokenHttp {
  postForm(url: string, form: Record<string, string>, headers?: Record<string, string>): Promise<JsonAnswer>;
  getJson(url: string): Promise<JsonAnswer>;
  close(): Promise<void>;
}

export interface TokenHttpOptions {
  tls: TlsConnectOptions;
  timeoutMs: number;
  /** Tests pass their own dispatcher; otherwise an Agent is made (and closed by close()). */
  dispatcher?: Dispatcher;
}

export function createTokenHttp(options: TokenHttpOptions): TokenHttp {
  const { timeoutMs } = options;
  const agent =
    options.dispatcher ??
    new Agent({
      connect: tlsConnector({ ...options.tls, timeout: timeoutMs }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      // Token requests are rare (one per validity window); a few connections are plenty.
      connections: 4,
    });

  async function exchange(url: string, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }): Promise<JsonAnswer> {
    const peer = peerName(url);
    let answer: Dispatcher.ResponseData;
    try {
      answer = await request(url, { ...init, dispatcher: agent, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw connectionFailure(err, peer, timeoutMs);
    }
    let text: string;
    try {
      text = await readLimited(answer.body);
    } catch (err) {
      if (err instanceof UpstreamCredentialsError) throw err;
      throw connectionFailure(err, peer, timeoutMs);
    }
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      json = undefined;
    }
    return { status: answer.statusCode, json };
  }

  return {
    postForm(url, form, headers = {}) {
      return exchange(url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams(form).toString(),
      });
    },
    getJson(url) {
      return exchange(url, { method: 'GET', headers: { accept: 'application/json' } });
    },
    async close() {
      if (options.dispatcher === undefined) await agent.close();
    },
  };
}

async function readLimited(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > MAX_ANSWER_BYTES) {
      body.destroy();
      throw new UpstreamCredentialsError('invalid_response', `the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `the token endpoint https://idp.example/token`: the origin and path only, never a query. */
function peerName(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

function connectionFailure(err: unknown, peer: string, timeoutMs: number): UpstreamCredentialsError {
  const tls = describeTlsFailure(err, peer);
  if (tls !== undefined) return new UpstreamCredentialsError('tls', tls.message);
  const name = (err as { name?: unknown } | undefined)?.name;
  if (
    name === 'TimeoutError' ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError
  ) {
    return new UpstreamCredentialsError('timeout', `${peer} did not answer within ${Math.round(timeoutMs / 1000)}s`);
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  return new UpstreamCredentialsError('unreachable', `${peer} could not be reached (${typeof code === 'string' ? code : 'connection failed'})`);
}
