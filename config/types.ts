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
  logging: LoggingConfig;
  rate_limits: RateLimitsConfig;
  audit: AuditConfig;
  proxy: ProxyConfig;
  /** Absent -> LOGIN_PROTECTION_DEFAULTS (config/schema.ts); present -> every key filled. */
  login_protection?: LoginProtectionConfig;
}
