import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, type JWK, type JWTPayload } from 'jose';
import Provider, { errors as oidcErrors } from 'oidc-provider';
import type { Test } from 'tap';

/**
 * A real OAuth 2.0 authorization server in the test process: panva's oidc-provider, issuing
 * client_credentials tokens as RFC 9068 JWTs for one resource (the upstream), to clients that
 * authenticate with client_secret_basic or private_key_jwt (RS384/ES384). It counts the token
 * requests it answers, and can be told to fail them.
 */

export interface TokenServerClient {
  client_id: string;
  client_secret?: string;
  token_endpoint_auth_method: 'client_secret_basic' | 'private_key_jwt';
  /** Public JWKs for private_key_jwt. */
  jwks?: { keys: JWK[] };
  token_endpoint_auth_signing_alg?: 'RS384' | 'ES384';
}

export interface TokenServer {
  issuer: string;
  tokenUrl: string;
  /** The resource every token is issued for (its `aud`). */
  resource: string;
  /** Token requests answered so far (successful or not). */
  tokenRequests(): number;
  /** Token requests that got a token. */
  tokensIssued(): number;
  /** While set, token requests are answered with this status and body instead (an outage). */
  failWith(answer: { status: number; body: unknown } | undefined): void;
  /** Verifies an access token the way a resource server would (signature, iss, aud, exp, typ). */
  verify(token: string): Promise<JWTPayload>;
  /** Every request body the token endpoint received (to prove what the client sent). */
  bodies: string[];
  close(): Promise<void>;
}

export interface TokenServerOptions {
  clients: TokenServerClient[];
  /** Seconds an access token lives. Default 300. */
  accessTokenTtl?: number;
  /** The resource (upstream URL) tokens are for. */
  resource?: string;
  /** Scopes the resource server knows. */
  scopes?: string[];
}

export async function startTokenServer(t: Test, options: TokenServerOptions): Promise<TokenServer> {
  const resource = options.resource ?? 'https://fhir.test/fhir';
  const ttl = options.accessTokenTtl ?? 300;
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const signingJwk = { ...(await exportJWK(privateKey)), kid: 'idp-key', alg: 'ES256', use: 'sig' };
  const { d: _d, ...publicJwk } = signingJwk;
  const localJwks = createLocalJWKSet({ keys: [publicJwk] });

  let tokenRequests = 0;
  let tokensIssued = 0;
  let failure: { status: number; body: unknown } | undefined;
  const bodies: string[] = [];

  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider = new Provider(issuer, {
    clients: options.clients.map((client) => ({
      ...client,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      // The only key the server has signs ES256.
      id_token_signed_response_alg: 'ES256',
    })),
    clientAuthMethods: ['client_secret_basic', 'private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['RS384', 'ES384'] },
    jwks: { keys: [signingJwk] },
    ttl: { ClientCredentials: ttl },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          if (indicator !== resource) throw new oidcErrors.InvalidTarget();
          return { scope: (options.scopes ?? ['system/*.rs', 'system/Patient.rs']).join(' '), audience: resource, accessTokenTTL: ttl, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
        },
      },
    },
  } as never);
  // oidc-provider warns about non-https issuers and its runtime; a test does not care.
  provider.on('server_error', () => undefined);

  // The provider reads request bodies itself, so the body is recorded on a hop in front of it:
  // this server records, then forwards the request unchanged to the provider's own listener.
  const inner = createServer(provider.callback());
  await new Promise<void>((resolve) => inner.listen(0, '127.0.0.1', resolve));
  const innerPort = (inner.address() as AddressInfo).port;
  server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const isToken = req.method === 'POST' && req.url === '/token';
      if (isToken) {
        tokenRequests++;
        bodies.push(body.toString('utf8'));
        if (failure !== undefined) {
          res.writeHead(failure.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(failure.body));
          return;
        }
      }
      const forwarded = httpRequest({ host: '127.0.0.1', port: innerPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        if (isToken && answer.statusCode === 200) tokensIssued++;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forwarded.on('error', () => res.destroy());
      forwarded.end(body);
    });
  });

  const close = () =>
    Promise.all(
      [server, inner].map(
        (listener) =>
          new Promise<void>((resolve) => {
            listener.closeAllConnections();
            listener.close(() => resolve());
          }),
      ),
    ).then(() => undefined);
  t.teardown(close);

  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    resource,
    tokenRequests: () => tokenRequests,
    tokensIssued: () => tokensIssued,
    failWith: (answer) => {
      failure = answer;
    },
    async verify(token) {
      const { payload } = await jwtVerify(token, localJwks, { issuer, audience: resource, typ: 'at+jwt' });
      return payload;
    },
    bodies,
    close,
  };
}
