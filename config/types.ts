/**
 * The validated, typed gateway configuration. `config/schema.ts` is the single source of
 * truth for what YAML is accepted; these types describe the object after loading
 * (environment references resolved, durations converted to seconds, defaults applied).
 */

export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
export type GrantType = 'client_credentials' | 'authorization_code' | 'implicit' | 'password' | 'refresh_token';

export interface ServerConfig {
  host: string;
  port: number;
  /** Issuer and the FHIR base URL clients see, without a trailing slash. */
  public_url: string;
  /** Largest request body accepted on OAuth endpoints, in bytes. */
  max_body_bytes: number;
}

export interface UpstreamConfig {
  /** Upstream FHIR base URL, without a trailing slash. */
  url: string;
  /** Seconds. */
  timeout: number;
  /** Max sockets kept open to the upstream. */
  max_sockets: number;
}

export interface StoreConfig {
  /** redis:// or rediss:// URL; absent -> embedded in-memory store. */
  url?: string;
  key_prefix: string;
}

export interface TokensConfig {
  /** Seconds. */
  access_token_ttl: number;
  signing_key_file?: string;
  /** Seconds of clock skew tolerated on exp/nbf/iat. */
  clock_skew: number;
}

export interface ClientConfig {
  client_id: string;
  client_name?: string;
  client_secret?: string;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  grant_types: GrantType[];
  /** Space-separated scopes the client may ever be granted. */
  scope: string;
  redirect_uris: string[];
}

export interface LoggingConfig {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export interface GatewayConfig {
  /** Path of the file the config was read from (for messages). */
  source: string;
  server: ServerConfig;
  upstream: UpstreamConfig;
  store: StoreConfig;
  tokens: TokensConfig;
  clients: ClientConfig[];
  logging: LoggingConfig;
}
