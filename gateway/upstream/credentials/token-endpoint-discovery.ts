/**
 * The token endpoint of `upstream.auth.issuer`: read from the issuer's metadata, RFC 8414
 * (`/.well-known/oauth-authorization-server`) first, then OpenID Connect Discovery
 * (`/.well-known/openid-configuration`). The document must name exactly the configured issuer
 * (RFC 8414 §3.3, OIDC Discovery §4.3), or it could send the gateway's credentials to another
 * server. Found once and kept; a failure is not kept, so the next token request asks again.
 */
import { credentialUrlProblem } from '../../../config/endpoint-urls.js';
import type { TokenHttp } from './token-http.js';
import { UpstreamCredentialsError } from './upstream-credentials.js';

/** RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path. */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  return [`${url.origin}/.well-known/oauth-authorization-server${path}`, `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`];
}

export function tokenEndpointOf(issuer: string, http: TokenHttp): () => Promise<string> {
  let found: string | undefined;
  let finding: Promise<string> | undefined;

  async function discover(): Promise<string> {
    const reasons: string[] = [];
    for (const url of metadataUrls(issuer)) {
      let answer;
      try {
        answer = await http.getJson(url);
      } catch (err) {
        if (err instanceof UpstreamCredentialsError) throw new UpstreamCredentialsError(err.failure === 'tls' ? 'tls' : 'discovery', `discovery of ${issuer} failed: ${err.message}`);
        throw err;
      }
      if (answer.status === 404) {
        reasons.push(`${url}: 404`);
        continue;
      }
      const document = answer.json;
      if (answer.status !== 200 || document === null || typeof document !== 'object' || Array.isArray(document)) {
        throw new UpstreamCredentialsError('discovery', `discovery of ${issuer} failed: ${url} answered HTTP ${answer.status} without a metadata document`);
      }
      const metadata = document as Record<string, unknown>;
      if (metadata['issuer'] !== issuer) {
        throw new UpstreamCredentialsError('discovery', `discovery of ${issuer} failed: ${url} names another issuer, ${JSON.stringify(String(metadata['issuer']).slice(0, 200))}`);
      }
      const endpoint = metadata['token_endpoint'];
      const problem = typeof endpoint === 'string' ? credentialUrlProblem(endpoint) : 'it is missing';
      if (typeof endpoint !== 'string' || problem !== undefined) {
        throw new UpstreamCredentialsError('discovery', `discovery of ${issuer} failed: token_endpoint in ${url}: ${problem}`);
      }
      return endpoint;
    }
    throw new UpstreamCredentialsError('discovery', `discovery of ${issuer} failed: no metadata (${reasons.join(', ')})`);
  }

  return () => {
    if (found !== undefined) return Promise.resolve(found);
    finding ??= discover().then(
      (endpoint) => {
        found = endpoint;
        finding = undefined;
        return endpoint;
      },
      (err: unknown) => {
        finding = undefined;
        throw err;
      },
    );
    return finding;
  };
}
