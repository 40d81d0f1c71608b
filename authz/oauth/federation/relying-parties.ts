import * as oidc from 'openid-client';
import type { IdentityProviderConfig } from '../../../config/types.js';
import { OAUTH_PATHS } from '../paths.js';
import { loadProviderClientKey, type ProviderClientKey } from './provider-client-key.js';

/**
 * The gateway as a relying party of each configured identity provider (openid-client v6).
 *
 * - Discovery (OpenID Connect Discovery 1.0) happens on first use, not at start, so a provider
 *   that is down does not stop the gateway; the result is cached per provider for the life of
 *   this object (one per configuration snapshot: a reload that changes a provider discovers it
 *   afresh). A failed discovery is not cached: the next sign-in tries again.
 * - Every call to a provider (discovery, token, JWKS) gives up after PROVIDER_TIMEOUT_SECONDS.
 * - http is allowed only for providers with `allow_http: true`.
 * - ID token signatures are verified (`enableNonRepudiationChecks`): openid-client v6 otherwise
 *   trusts a code-flow ID token on the strength of TLS alone, which a gateway that may talk to a
 *   provider through proxies and over http in tests must not.
 */
export const PROVIDER_TIMEOUT_SECONDS = 10;

export interface RelyingPartyOptions {
  /** Seconds before a call to a provider gives up; tests shorten it. Default: PROVIDER_TIMEOUT_SECONDS */
  timeoutSeconds?: number;
}

export class RelyingParties {
  private readonly byId: ReadonlyMap<string, IdentityProviderConfig>;
  private readonly discovered = new Map<string, Promise<oidc.Configuration>>();
  private readonly timeoutSeconds: number;

  /** Use loadRelyingParties, which reads the private_key_jwt key files first. */
  constructor(
    providers: readonly IdentityProviderConfig[],
    private readonly publicUrl: string,
    private readonly clientKeys: ReadonlyMap<string, ProviderClientKey>,
    options: RelyingPartyOptions = {},
  ) {
    this.byId = new Map(providers.map((provider) => [provider.id, provider]));
    this.timeoutSeconds = options.timeoutSeconds ?? PROVIDER_TIMEOUT_SECONDS;
  }

  get(id: string): IdentityProviderConfig | undefined {
    return this.byId.get(id);
  }

  /** In config order: the login page's buttons. */
  all(): IdentityProviderConfig[] {
    return [...this.byId.values()];
  }

  /** `{public_url}/oauth/callback/{id}`: what is registered at the provider and sent as redirect_uri. */
  redirectUri(id: string): string {
    return `${this.publicUrl.replace(/\/+$/, '')}${OAUTH_PATHS.callback}/${id}`;
  }

  /** The public JWK to register at the provider, for private_key_jwt providers. */
  clientPublicJwk(id: string): ProviderClientKey['publicJwk'] | undefined {
    return this.clientKeys.get(id)?.publicJwk;
  }

  /** The provider's discovered configuration with the gateway's client; rejects when discovery fails. */
  configuration(id: string): Promise<oidc.Configuration> {
    const known = this.discovered.get(id);
    if (known) return known;
    const provider = this.byId.get(id);
    if (!provider) return Promise.reject(new Error(`unknown identity provider ${JSON.stringify(id)}`));
    const discovering = this.discover(provider);
    this.discovered.set(id, discovering);
    // A provider that was down must get another chance with the next sign-in.
    discovering.catch(() => {
      if (this.discovered.get(id) === discovering) this.discovered.delete(id);
    });
    return discovering;
  }

  private async discover(provider: IdentityProviderConfig): Promise<oidc.Configuration> {
    const execute = [oidc.enableNonRepudiationChecks, ...(provider.allow_http ? [oidc.allowInsecureRequests] : [])];
    const metadata: Partial<oidc.ClientMetadata> = { redirect_uris: [this.redirectUri(provider.id)], response_types: ['code'] };
    return oidc.discovery(new URL(provider.issuer), provider.client_id, metadata, this.clientAuthentication(provider), {
      execute,
      timeout: this.timeoutSeconds,
    });
  }

  private clientAuthentication(provider: IdentityProviderConfig): oidc.ClientAuth {
    switch (provider.token_endpoint_auth_method) {
      case 'client_secret_basic':
        return oidc.ClientSecretBasic(provider.client_secret);
      case 'client_secret_post':
        return oidc.ClientSecretPost(provider.client_secret);
      case 'private_key_jwt': {
        const clientKey = this.clientKeys.get(provider.id);
        if (!clientKey) throw new Error(`identity provider ${provider.id}: no signing key loaded for private_key_jwt`);
        return oidc.PrivateKeyJwt({ key: clientKey.key, kid: clientKey.kid });
      }
    }
  }
}

/**
 * Builds the relying parties of a configuration, reading every private_key_jwt key file first:
 * a key that cannot be read stops the start (or is refused by a reload) with the config key named,
 * as tokens.signing_key_file does.
 */
export async function loadRelyingParties(
  providers: readonly IdentityProviderConfig[] | undefined,
  publicUrl: string,
  options: RelyingPartyOptions = {},
): Promise<RelyingParties> {
  const keys = new Map<string, ProviderClientKey>();
  for (const [index, provider] of (providers ?? []).entries()) {
    if (provider.token_endpoint_auth_method === 'private_key_jwt' && provider.signing_key_file !== undefined) {
      keys.set(provider.id, await loadProviderClientKey(provider.signing_key_file, `identity_providers[${index}].signing_key_file`));
    }
  }
  return new RelyingParties(providers ?? [], publicUrl, keys, options);
}
