import type { ClientConfig, TokenEndpointAuthMethod } from '../../../config/types.js';
import { peekAssertionClientId } from './client-assertion.js';
import type { ClientRegistry } from './client-registry.js';
import { secretsEqual } from '../../crypto/constant-time.js';
import { OAuthError } from '../oauth-error.js';

/** Verifies a private_key_jwt assertion; supplied by the server so this module stays free of I/O. */
export type AssertionVerifier = (client: ClientConfig, assertion: string, assertionType: string) => Promise<{ ok: true } | { ok: false; description: string }>;

interface Presented {
  method: TokenEndpointAuthMethod;
  clientId: string;
  secret?: string;
  assertion?: string;
  assertionType?: string;
}

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
function parseBasic(header: string): { clientId: string; secret: string } {
  const encoded = header.slice('basic '.length).trim();
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidClient('Malformed Basic credentials', true);
  try {
    const unform = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { clientId: unform(decoded.slice(0, colon)), secret: unform(decoded.slice(colon + 1)) };
  } catch {
    throw invalidClient('Malformed Basic credentials', true);
  }
}

/** The challenge of every 401 from an endpoint that authenticates clients: the one HTTP scheme it accepts (RFC 7617). */
export const CLIENT_AUTH_CHALLENGE = 'Basic realm="fhir-oauth-gateway", charset="UTF-8"';

/**
 * The one rule for failed client authentication at the token, introspection and revocation
 * endpoints (docs/oauth-flows.md, "Client authentication errors"):
 * - the client tried the Authorization header (any scheme): 401 with a `Basic` challenge, as
 *   RFC 6749 §5.2 requires, and RFC 9110 §15.5.2 for every 401;
 * - it authenticated in the body (client_secret_post, private_key_jwt, a bare client_id) or not
 *   at all: 400, which §5.2 allows and which carries no challenge, since no HTTP authentication
 *   scheme would help such a client (a 401 with `Basic` would tell a private_key_jwt client to
 *   use a scheme it must not use).
 */
export function invalidClient(description: string, triedAuthorizationHeader: boolean): OAuthError {
  return triedAuthorizationHeader
    ? new OAuthError('invalid_client', description, { status: 401, headers: { 'WWW-Authenticate': CLIENT_AUTH_CHALLENGE } })
    : new OAuthError('invalid_client', description, { status: 400 });
}

/** Whether the request carries any client authentication or identification (header or body). */
export function presentsClientCredentials(authorization: string | undefined, form: Record<string, string>): boolean {
  return (
    authorization !== undefined ||
    form.client_id !== undefined ||
    form.client_secret !== undefined ||
    form.client_assertion !== undefined ||
    form.client_assertion_type !== undefined
  );
}

/** Which authentication the request carries; more than one at once is refused (RFC 6749 §2.3). */
function presentedCredentials(authorization: string | undefined, form: Record<string, string>): Presented {
  const methods: Presented[] = [];
  if (authorization !== undefined) {
    if (!/^basic /i.test(authorization)) throw invalidClient('Only the Basic scheme is accepted for client authentication', true);
    const { clientId, secret } = parseBasic(authorization);
    methods.push({ method: 'client_secret_basic', clientId, secret });
  }
  if (form.client_secret !== undefined) {
    methods.push({ method: 'client_secret_post', clientId: form.client_id ?? '', secret: form.client_secret });
  }
  if (form.client_assertion !== undefined || form.client_assertion_type !== undefined) {
    methods.push({
      method: 'private_key_jwt',
      clientId: form.client_id ?? '',
      assertion: form.client_assertion ?? '',
      assertionType: form.client_assertion_type ?? '',
    });
  }
  if (methods.length > 1) {
    throw new OAuthError('invalid_request', 'The client used more than one authentication method; use exactly one');
  }
  const [only] = methods;
  if (only) return only;
  if (form.client_id) return { method: 'none', clientId: form.client_id };
  throw invalidClient('Client authentication is required', false);
}

/**
 * Authenticates the client of a token, introspection or revocation request. Every failure is
 * the same `invalid_client` whatever went wrong, so unknown ids can't be told from bad secrets.
 */
export async function authenticateClient(
  registry: ClientRegistry,
  authorization: string | undefined,
  form: Record<string, string>,
  verifyAssertion?: AssertionVerifier,
): Promise<ClientConfig> {
  const presented = presentedCredentials(authorization, form);
  // Only Basic gets this far through the header; any other scheme was refused above.
  const viaBasic = presented.method === 'client_secret_basic';

  if (presented.method === 'client_secret_basic' && form.client_id !== undefined && form.client_id !== presented.clientId) {
    throw new OAuthError('invalid_request', 'client_id in the body differs from the authenticated client');
  }
  if (presented.method === 'private_key_jwt' && presented.assertion && !presented.clientId) {
    presented.clientId = peekAssertionClientId(presented.assertion) ?? '';
  }
  const client = registry.get(presented.clientId);
  // Built only on failure: an Error captures a stack trace, which is most of a request's cost here.
  const failed = () => invalidClient('Client authentication failed', viaBasic);
  if (!client) {
    // Spend the time a real comparison would, so probing for client ids gains nothing.
    secretsEqual(presented.secret ?? '', 'x'.repeat(32));
    throw failed();
  }
  if (client.token_endpoint_auth_method !== presented.method) {
    throw invalidClient(`This client must authenticate with ${client.token_endpoint_auth_method}`, viaBasic);
  }
  switch (presented.method) {
    case 'client_secret_basic':
    case 'client_secret_post':
      if (!client.client_secret || !secretsEqual(presented.secret ?? '', client.client_secret)) throw failed();
      return client;
    case 'private_key_jwt': {
      if (!verifyAssertion) throw invalidClient('private_key_jwt is not available', false);
      const result = await verifyAssertion(client, presented.assertion ?? '', presented.assertionType ?? '');
      if (!result.ok) throw invalidClient(result.description, false);
      return client;
    }
    case 'none':
      return client;
  }
}
