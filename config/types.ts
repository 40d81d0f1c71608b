/**
 * The validated, typed gateway configuration. `config/schema.ts` is the single source of
 * truth for what YAML is accepted; these types describe the object after loading
 * (environment references resolved, durations converted to seconds, defaults applied).
 */

/**
 * The one list of each: the config schema accepts exactly these, discovery advertises them and
 * the authorization server has a handler for each (a missing one is a compile error there).
 */
export const TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;
export type TokenEndpointAuthMethod = (typeof TOKEN_ENDPOINT_AUTH_METHODS)[number];
export const GRANT_TYPES = ['client_credentials', 'authorization_code', 'implicit', 'password', 'refresh_token'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export interface ServerConfig {
  host: string;
  port: number;
  /** Issuer and the FHIR base URL clients see, without a trailing slash. */
  public_url: string;
  /** Largest request body accepted on OAuth endpoints, in bytes. */
  max_body_bytes: number;
  /** Worker processes sharing the port (node:cluster); 'auto' = one per CPU core. */
  workers: number | 'auto';
  /** Addresses (IPs or CIDRs) of reverse proxies whose X-Forwarded-For is believed. */
  trusted_proxies: string[];
  /** Seconds in-flight requests get to finish after SIGTERM. */
  shutdown_grace: number;
  /**
   * Port of the admin listener (/metrics, /healthz, /readyz). Absent -> those paths are served on
   * the public port; set -> only on this one.
   */
  admin_port?: number;
  /** Address the admin listener binds to; only with admin_port. Absent -> DEFAULT_ADMIN_HOST (config/schema.ts). */
  admin_host?: string;
}

export interface RateLimitRuleConfig {
  /** Requests per period on average. */
  limit: number;
  periodSeconds: number;
  /**
   * Extra requests allowed at once above the steady rate (GCRA, like nginx `burst`). Defaults
   * to `limit` when the file does not write it, so `N/period` admits N within any period;
   * 0 (written explicitly) means strict pacing, one request per period/limit.
   */
  burst: number;
}

interface RateLimitsConfig {
  /** Proxied FHIR requests per client_id. */
  per_client?: RateLimitRuleConfig;
  /** Token endpoint requests per client IP. */
  per_ip_token?: RateLimitRuleConfig;
  /** Login form posts per client IP. */
  per_ip_login?: RateLimitRuleConfig;
}

export interface AuditConfig {
  /** The JSON audit lines (below); `fhir` is independent of it. */
  enabled: boolean;
  /** "stdout", "stderr" or a file path. */
  destination: string;
  /** Absent -> no AuditEvents are sent. */
  fhir?: AuditFhirConfig;
}

/** IHE BALP AuditEvents, queued in the store and sent in FHIR batch Bundles to a FHIR server. */
export interface AuditFhirConfig {
  /** FHIR base URL the batch Bundles are POSTed to (the upstream's or another server's). */
  url: string;
  /** Most AuditEvents per batch Bundle; a full batch is sent without waiting for flush_interval. */
  batch_size: number;
  /** Seconds between sends of what is queued. */
  flush_interval: number;
  /** Most AuditEvents kept in the store while the endpoint is unreachable; beyond it the oldest are dropped (and counted). */
  queue_limit: number;
  /**
   * How the gateway authenticates to the endpoint, in the forms of upstream.auth. Absent -> the
   * upstream's credentials when url is the upstream's base, none otherwise.
   */
  auth?: UpstreamAuthConfig;
}

/** Sign-in lockout (login page and password grant), per username and per client IP. */
export interface LoginProtectionConfig {
  /** Failed sign-ins for one username within failure_window that lock it. */
  max_failures_per_username: number;
  /** Failed sign-ins from one client IP within failure_window that lock it. */
  max_failures_per_ip: number;
  /** Seconds over which failures are counted (from the first failure). */
  failure_window: number;
  /** Seconds a username or IP stays locked. */
  lockout: number;
}

export interface UpstreamConfig {
  /** Upstream FHIR base URL, without a trailing slash. */
  url: string;
  /** Seconds. */
  timeout: number;
  /** Max sockets kept open to the upstream. */
  max_sockets: number;
  /** HTTP client used to forward: http-proxy (default) or undici's pool (see README, Performance). */
  forwarder: 'http-proxy' | 'undici';
  /** How the gateway authenticates itself to the upstream; absent -> `{ type: 'none' }`. */
  auth?: UpstreamAuthConfig;
  /** TLS towards the upstream (and its token endpoint); absent -> the system's trust store, no client certificate. */
  tls?: UpstreamTlsConfig;
  /** What the upstream learns about the end user; absent -> nothing (spoofed identity headers are still removed). */
  identity?: UpstreamIdentityConfig;
}

export type UpstreamAuthType = 'none' | 'header' | 'basic' | 'client_credentials' | 'private_key_jwt' | 'google_service_account';

/** Where an OAuth kind gets its token: a token endpoint URL, or an issuer whose metadata names it (RFC 8414 / OIDC discovery). */
export type UpstreamTokenEndpoint = { token_url: string; issuer?: undefined } | { issuer: string; token_url?: undefined };

/** Optional parameters of the token request the OAuth kinds send. */
export interface UpstreamTokenRequestParameters {
  /** Space-separated scopes asked for. */
  scope?: string;
  /** Sent as RFC 8707 `resource` and as `audience` (the name several servers use instead). */
  audience?: string;
}

/**
 * One shape per `upstream.auth.type`: the schema's rules guarantee that a loaded config holds
 * exactly the keys of its type.
 */
export type UpstreamAuthConfig =
  | { type: 'none' }
  /** A fixed header (an API key). */
  | { type: 'header'; header: { name: string; value: string } }
  /** RFC 7617 Basic. */
  | { type: 'basic'; basic: { username: string; password: string } }
  /** RFC 6749 §4.4, client_secret_basic at the token endpoint. */
  | ({ type: 'client_credentials'; client_id: string; client_secret: string } & UpstreamTokenEndpoint & UpstreamTokenRequestParameters)
  /** RFC 6749 §4.4 with an RFC 7523 client assertion (SMART Backend Services). */
  | ({ type: 'private_key_jwt'; client_id: string; signing_key_file: string; kid?: string } & UpstreamTokenEndpoint & UpstreamTokenRequestParameters)
  /** RFC 7523 §2.1 JWT-bearer grant with a Google service-account key file. */
  | { type: 'google_service_account'; key_file: string; scope?: string };

export interface UpstreamTlsConfig {
  /** PEM file of the CA certificate(s) the upstream's certificate must chain to (instead of the system's). */
  ca_file?: string;
  /** PEM client certificate (and chain) for mutual TLS; with key_file. */
  cert_file?: string;
  /** PEM private key of cert_file (unencrypted). */
  key_file?: string;
  /** The name the upstream's certificate is checked against (and sent as SNI), when it is not upstream.url's host. */
  server_name?: string;
  /** Tests only: no certificate verification at all. */
  allow_insecure: boolean;
}

/** Header names of the identity headers, one per claim. */
export interface UpstreamIdentityHeaderNames {
  client_id: string;
  user: string;
  fhir_user: string;
  patient: string;
  scope: string;
}

export interface UpstreamIdentityConfig {
  /** Send the verified token's claims as headers. */
  headers: boolean;
  header_names: UpstreamIdentityHeaderNames;
  /** Claims not sent as headers even with `headers: true` (their names are still removed from client requests). */
  omit_headers: (keyof UpstreamIdentityHeaderNames)[];
  /** Send a short-lived JWT signed with the gateway's key carrying those claims. */
  assertion: boolean;
  assertion_header: string;
  /** Forward the client's access token as Authorization (only with auth.type none). */
  forward_token: boolean;
}

/** How the proxy treats bodies it must inspect, and the paging links it hands out. */
interface ProxyConfig {
  /**
   * Largest request or response body, in bytes, the proxy holds in memory to inspect (request
   * bodies the decision needs, Bundles it rewrites or checks). Bodies it does not inspect stream.
   */
  max_buffered_body: number;
  /** Seconds a signed paging link (opaque upstream page handle) stays valid. */
  paging_link_ttl: number;
  /**
   * Cache-Control of proxied answers whose upstream sent none (default `no-store`: FHIR answers
   * hold health data a shared browser must not keep). The upstream's own value is kept.
   */
  cache_control: string;
}

interface RedisNode {
  host: string;
  port: number;
}

export interface StoreConfig {
  /** redis:// or rediss:// URL; absent (and no sentinels/cluster) -> embedded in-memory store. */
  url?: string;
  key_prefix: string;
  /** Redis Sentinel: the sentinels to ask, and the name of the monitored master. */
  sentinels?: RedisNode[];
  sentinel_name?: string;
  /** Redis Cluster: seed nodes. */
  cluster_nodes?: RedisNode[];
  /** Password for sentinel/cluster nodes (with `url`, put it in the URL). */
  password?: string;
}

export interface TokensConfig {
  /** Seconds. */
  access_token_ttl: number;
  signing_key_file?: string;
  /** Seconds of clock skew tolerated on exp/nbf/iat. */
  clock_skew: number;
  /** Seconds a refresh token lives; absent -> REFRESH_TOKEN_TTL_SECONDS (authz/oauth-settings.ts). */
  refresh_token_ttl?: number;
  /** Seconds an authorization code may wait for redemption; absent -> 60. */
  authorization_code_ttl?: number;
  /**
   * Seconds per generated-key epoch: a new signing key each epoch, older ones still verify until
   * their tokens expired (authz/signing-keys.ts). Absent -> one generated key, never rotated.
   * Not with signing_key_file (rotate a key file by editing it and sending SIGHUP).
   */
  key_rotation?: number;
  /**
   * Seconds an EHR launch value (POST /oauth/launch) may wait for the app's authorize request;
   * absent -> LAUNCH_TTL_DEFAULT_SECONDS (5 minutes, authz/oauth/records/launches.ts).
   */
  launch_ttl?: number;
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
  /** Public keys for private_key_jwt: an inline JWK set (RFC 7517), or... */
  jwks?: { keys: Record<string, unknown>[] };
  /** ...an absolute http(s) URL the JWK set is fetched from. Never both. */
  jwks_uri?: string;
  /**
   * SMART EHR launch: the app's launch URL. An EHR launch sends the browser here with `iss` and
   * `launch` added. Only for clients with a redirecting grant (authorization_code, implicit).
   */
  launch_uri?: string;
  /**
   * This client is an EHR: it may create launch contexts for other apps (POST /oauth/launch).
   * Confidential clients only. Absent -> false.
   */
  creates_launches?: boolean;
}

/** A person who can sign in on the login page or with the password grant. */
export interface UserConfig {
  username: string;
  /** PHC scrypt string printed by `fhir-gateway hash-password`. */
  password_hash: string;
  /** SMART fhirUser: the FHIR resource for this person, e.g. `Practitioner/123`. */
  fhir_user?: string;
  /** The patient whose record this user opens (`Patient/456`): the SMART patient launch context. */
  patient?: string;
  /** Space-separated resource scopes this user can ever grant to an app. */
  scope: string;
}

export type IdentityProviderAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** The gateway's claim-to-scope rule: a person whose `claim` holds a key of `values` may grant that key's scopes too. */
export interface ResourceScopeByClaimConfig {
  /** Name of an ID token claim holding a string or a list of strings (groups, roles). */
  claim: string;
  /** Claim value -> space-separated resource scopes, unioned with `resource_scope`. */
  values: Record<string, string>;
}

/**
 * An external OpenID Connect provider people sign in with (the hospital's Keycloak, Entra ID,
 * Okta...). The gateway is its relying party; the redirect URI to register at the provider is
 * `{server.public_url}/oauth/callback/{id}`.
 */
export interface IdentityProviderConfig {
  /** [a-z0-9-]+, unique: the callback path segment and the key of everything about this provider. */
  id: string;
  /** The label on the login page's button. */
  name: string;
  /** The provider's issuer identifier; `{issuer}/.well-known/openid-configuration` is fetched. */
  issuer: string;
  client_id: string;
  client_secret?: string;
  token_endpoint_auth_method: IdentityProviderAuthMethod;
  /** Private JWK (RSA or EC) the gateway signs its client assertions with (private_key_jwt). */
  signing_key_file?: string;
  /** Space-separated scopes asked of the provider; always includes openid. */
  scope: string;
  /** Template over the verified ID token claims giving the SMART fhirUser: `Practitioner/{employee_id}`, `{fhirUser}`. */
  fhir_user: string;
  /** Optional template giving a person's fixed patient: `{patient_id}` or `Patient/{patient_id}`. */
  patient?: string;
  /** Space-separated resource scopes every person from this provider may grant an app. */
  resource_scope?: string;
  resource_scope_by_claim?: ResourceScopeByClaimConfig;
  /** http:// issuers are refused unless this is true (tests, local providers). */
  allow_http: boolean;
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
  /** Absent when the file lists none: then nobody can sign in. */
  users?: UserConfig[];
  /** External OpenID Connect providers people may sign in with; absent when the file lists none. */
  identity_providers?: IdentityProviderConfig[];
  logging: LoggingConfig;
  rate_limits: RateLimitsConfig;
  audit: AuditConfig;
  proxy: ProxyConfig;
  /** Absent -> LOGIN_PROTECTION_DEFAULTS (config/schema.ts); present -> every key filled. */
  login_protection?: LoginProtectionConfig;
}
