import t from 'tap';
import { createHmac, randomUUID } from 'node:crypto';
import { generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { BACKEND_SECRET, startStack } from '../../support/stack.js';

/** Issue #2 bad inputs on the FHIR side: each one is refused with a standard error and nothing reaches the upstream. */
t.test('bad bearer tokens are refused before the upstream', async (t) => {
  const stack = await startStack(t, { store: 'memory' });
  const base = stack.gateway.url;
  const runtime = stack.gateway.runtime.get();
  const now = Math.floor(Date.now() / 1000);
  const good: JWTPayload = {
    iss: base,
    aud: base,
    sub: 'backend',
    client_id: 'backend',
    scope: 'system/Patient.rs',
    iat: now,
    exp: now + 300,
  };
  const sign = (claims: JWTPayload, header: Record<string, unknown> = {}) =>
    new SignJWT({ jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: runtime.keys.signing.kid, ...header })
      .sign(runtime.keys.signing.privateKey);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

  const otherKey = await generateKeyPair('ES256');
  const hsHeader = b64({ alg: 'HS256', typ: 'at+jwt', kid: runtime.keys.signing.kid });
  const hsPayload = b64({ ...good, jti: randomUUID() });
  const publicPem = JSON.stringify(runtime.keys.signing.publicJwk);
  const hsSignature = createHmac('sha256', publicPem).update(`${hsHeader}.${hsPayload}`).digest('base64url');

  const revokedToken = await sign(good);
  const revokedJti = JSON.parse(Buffer.from(revokedToken.split('.')[1]!, 'base64url').toString()).jti;
  await runtime.store.revoke(revokedJti, 300);

  const cases: { name: string; authorization?: string; status: number; challenge: RegExp; diagnostics: RegExp }[] = [
    { name: 'no Authorization header', status: 401, challenge: /^Bearer realm="[^"]+"$/, diagnostics: /Bearer access token is required/ },
    { name: 'Basic instead of Bearer', authorization: 'Basic ' + Buffer.from(`backend:${BACKEND_SECRET}`).toString('base64'), status: 401, challenge: /^Bearer realm="[^"]+"$/, diagnostics: /Authorization: Bearer/ },
    { name: 'garbled token', authorization: 'Bearer not.a.jwt', status: 401, challenge: /error="invalid_token"/, diagnostics: /malformed/ },
    { name: 'header with spaces inside the token', authorization: 'Bearer abc def', status: 400, challenge: /error="invalid_request"/, diagnostics: /Malformed/ },
    {
      name: 'signed by another key (same kid)',
      authorization: 'Bearer ' + (await new SignJWT({ ...good, jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: runtime.keys.signing.kid }).sign(otherKey.privateKey)),
      status: 401,
      challenge: /error="invalid_token"/,
      diagnostics: /signature is invalid/,
    },
    {
      name: 'signed by another key (unknown kid)',
      authorization: 'Bearer ' + (await new SignJWT({ ...good, jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'attacker' }).sign(otherKey.privateKey)),
      status: 401,
      challenge: /error="invalid_token"/,
      diagnostics: /not signed by this gateway/,
    },
    {
      name: 'alg none',
      authorization: `Bearer ${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ ...good, jti: randomUUID() })}.`,
      status: 401,
      challenge: /error="invalid_token"/,
      diagnostics: /algorithm|malformed/,
    },
    { name: 'HS256 with the public key as secret', authorization: `Bearer ${hsHeader}.${hsPayload}.${hsSignature}`, status: 401, challenge: /error="invalid_token"/, diagnostics: /algorithm/ },
    { name: 'expired', authorization: 'Bearer ' + (await sign({ ...good, iat: now - 4000, exp: now - 3600 })), status: 401, challenge: /error="invalid_token"/, diagnostics: /expired/ },
    { name: 'not yet valid', authorization: 'Bearer ' + (await sign({ ...good, nbf: now + 3600 })), status: 401, challenge: /error="invalid_token"/, diagnostics: /not valid yet/ },
    { name: 'wrong aud', authorization: 'Bearer ' + (await sign({ ...good, aud: 'https://other.example/fhir' })), status: 401, challenge: /error="invalid_token"/, diagnostics: /another audience/ },
    { name: 'wrong iss', authorization: 'Bearer ' + (await sign({ ...good, iss: 'https://evil.example' })), status: 401, challenge: /error="invalid_token"/, diagnostics: /another server/ },
    { name: 'wrong typ (an ID token)', authorization: 'Bearer ' + (await sign(good, { typ: 'JWT' })), status: 401, challenge: /error="invalid_token"/, diagnostics: /typ/ },
    { name: 'revoked jti', authorization: `Bearer ${revokedToken}`, status: 401, challenge: /error="invalid_token"/, diagnostics: /revoked/ },
    {
      name: 'no scope for the resource',
      authorization: 'Bearer ' + (await sign({ ...good, scope: 'system/Observation.rs' })),
      status: 403,
      challenge: /error="insufficient_scope".*scope="system\/Patient\.s"/,
      diagnostics: /.+/,
    },
  ];

  const goodToken = await sign(good);
  const ok = await fetch(`${base}/Patient`, { headers: { authorization: `Bearer ${goodToken}` } });
  t.equal(ok.status, 200, 'control: a well-formed token passes');
  stack.takeReceived();

  for (const c of cases) {
    const res = await fetch(`${base}/Patient`, { headers: c.authorization ? { authorization: c.authorization } : {} });
    t.equal(res.status, c.status, `${c.name}: status ${c.status}`);
    t.match(res.headers.get('www-authenticate') ?? '', c.challenge, `${c.name}: WWW-Authenticate`);
    t.match(res.headers.get('content-type') ?? '', /application\/fhir\+json/, `${c.name}: FHIR content type`);
    const outcome = await res.json();
    t.equal(outcome.resourceType, 'OperationOutcome', `${c.name}: OperationOutcome`);
    t.match(outcome.issue[0].diagnostics, c.diagnostics, `${c.name}: diagnostics say why`);
    t.same(stack.takeReceived(), [], `${c.name}: nothing forwarded`);
  }

  const viaQuery = await fetch(`${base}/Patient?access_token=${goodToken}`);
  t.equal(viaQuery.status, 401, 'a token in the query string is not accepted (RFC 6750 §2.1 header only)');
  t.same(stack.takeReceived(), [], 'query-token request not forwarded');
});

t.test('upstream unreachable -> 502, too slow -> 504, as OperationOutcome', async (t) => {
  const { createServer } = await import('node:http');
  const slow = createServer((_req, res) => {
    setTimeout(() => res.end('{}'), 3000).unref();
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { slow.closeAllConnections(); slow.close(() => r()); }));
  const slowPort = (slow.address() as { port: number }).port;

  const { freePort } = await import('../../support/free-port.js');
  const deadPort = await freePort();
  for (const [name, url, timeout, status, code] of [
    ['refused', `http://127.0.0.1:${deadPort}/fhir`, '5s', 502, 'transient'],
    ['too slow', `http://127.0.0.1:${slowPort}/fhir`, '1s', 504, 'timeout'],
  ] as const) {
    const stack = await startStack(t, {
      store: 'memory',
      edit: (raw) => {
        raw.upstream = { url, timeout };
      },
    });
    const tokenRes = await fetch(`${stack.gateway.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(`backend:${BACKEND_SECRET}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    const { access_token } = await tokenRes.json();
    const res = await fetch(`${stack.gateway.url}/Patient`, { headers: { authorization: `Bearer ${access_token}` } });
    t.equal(res.status, status, `${name}: ${status}`);
    const body = await res.json();
    t.equal(body.resourceType, 'OperationOutcome', `${name}: OperationOutcome`);
    t.equal(body.issue[0].code, code, `${name}: issue code ${code}`);
  }
});
