/**
 * The single source of truth for what a gateway YAML file may contain: a JSON Schema
 * (structure, types, defaults) plus the cross-field rules JSON Schema expresses badly.
 *
 * To add a section: write a small sub-schema below, list it in `configSchema.properties`,
 * and (if it needs them) add its cross-field rules to `sectionRules`. Mark duration fields
 * with `duration(...)` and fields whose values must never be echoed in messages with
 * `secret: true`.
 */
import { Ajv, type FuncKeywordDefinition, type ValidateFunction } from 'ajv';
import { GRANT_TYPES, TOKEN_ENDPOINT_AUTH_METHODS, type AuditConfig, type ClientConfig, type GatewayConfig, type IdentityProviderConfig, type LoginProtectionConfig, type ServerConfig, type StoreConfig, type UpstreamAuthConfig, type UpstreamConfig, type UserConfig } from './types.js';
import { parseDuration } from './durations.js';
import { isValidPasswordHash } from './password-hash-format.js';
import { authProblems, upstreamAuthSchema, upstreamIdentitySchema, upstreamSectionProblems, upstreamTlsSchema } from './upstream-schema.js';
import { readAuthFiles } from './upstream-files.js';
import { parseClaimTemplate, sampleClaimTemplate } from './claim-templates.js';
import { isScopeList } from './scope-syntax.js';

// ---------------------------------------------------------------------------------------
// Schema vocabulary
// ---------------------------------------------------------------------------------------

/** A field written as `30s`/`5m`/`1h`/`30d` (or bare seconds); the validator turns it into seconds. */
function duration(defaultValue?: string) {
  return defaultValue === undefined ? { duration: true } : { duration: true, default: defaultValue };
}

const nonEmptyString = { type: 'string', minLength: 1 } as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// ---------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------

const serverSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['public_url'],
  properties: {
    host: { ...nonEmptyString, default: '0.0.0.0' },
    // 0 asks the OS for a free port, which tests and demos rely on.
    port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    public_url: nonEmptyString,
    max_body_bytes: { type: 'integer', minimum: 1, default: 65536 },
    workers: { anyOf: [{ type: 'integer', minimum: 1, maximum: 256 }, { const: 'auto' }], default: 1 },
    trusted_proxies: { type: 'array', items: nonEmptyString, default: [] },
    shutdown_grace: duration('10s'),
    // No default for either: a config without an admin listener keeps the shape it always had,
    // and admin_host without admin_port can be reported (it would do nothing).
    admin_port: { type: 'integer', minimum: 0, maximum: 65535 },
    admin_host: nonEmptyString,
  },
} as const;

/** Where the admin listener binds when server.admin_host is not given: only this machine. */
export const DEFAULT_ADMIN_HOST = '127.0.0.1';

const upstreamSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: nonEmptyString,
    timeout: duration('30s'),
    max_sockets: { type: 'integer', minimum: 1, default: 256 },
    forwarder: { enum: ['undici', 'http-proxy'], default: 'undici' },
    // No defaults here: absent means no credentials, system trust store, no identity (see upstream-schema.ts).
    auth: upstreamAuthSchema,
    tls: upstreamTlsSchema,
    identity: upstreamIdentitySchema,
  },
} as const;

const storeSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    // May carry a password (redis://:pw@host), so it is never quoted back in messages.
    url: { ...nonEmptyString, secret: true },
    key_prefix: { type: 'string', default: 'fhirgw:' },
    sentinels: { type: 'array', minItems: 1, items: redisNodeSchema() },
    sentinel_name: nonEmptyString,
    cluster_nodes: { type: 'array', minItems: 1, items: redisNodeSchema() },
    password: { ...nonEmptyString, secret: true },
  },
} as const;

function redisNodeSchema() {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['host', 'port'],
    properties: { host: nonEmptyString, port: { type: 'integer', minimum: 1, maximum: 65535 } },
  } as const;
}

/**
 * `600/min`, or `{ rate: 600/min, burst: 50 }`; the validator turns either into { limit,
 * periodSeconds, burst }. Without `burst` it is the limit: `600/min` admits 600 requests within
 * any minute, however they bunch up (a chart loading with 10 parallel requests is not throttled);
 * `burst: 0` asks for strict pacing (one request per period/limit).
 */
const rateRuleSchema = { rateRule: true } as const;

const rateLimitsSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    per_client: rateRuleSchema,
    per_ip_token: rateRuleSchema,
    per_ip_login: rateRuleSchema,
  },
} as const;

/** IHE BALP AuditEvents to a FHIR server; no default: absent means none are sent. */
const auditFhirSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: nonEmptyString,
    // 50 AuditEvents of ~2.5 KB make a ~125 KB Bundle: one modest request per batch for any FHIR server.
    batch_size: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
    flush_interval: duration('5s'),
    // ~2.5 KB per AuditEvent: the default bounds the queue at roughly 25 MB of store memory.
    queue_limit: { type: 'integer', minimum: 1, default: 10000 },
    // The forms of upstream.auth. No default: absent means the upstream's credentials when url is
    // the upstream's base, none otherwise (gateway/process/audit/audit-endpoint.ts).
    auth: upstreamAuthSchema,
  },
} as const;

const auditSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    enabled: { type: 'boolean', default: true },
    destination: { ...nonEmptyString, default: 'stdout' },
    fhir: auditFhirSchema,
  },
} as const;

/**
 * The sign-in lockout that applies when `login_protection` is absent: the values the gateway has
 * always used (authz/oauth/records/login-throttle.ts applies them). A present section gets the same defaults key by key.
 */
export const LOGIN_PROTECTION_DEFAULTS: Readonly<LoginProtectionConfig> = Object.freeze({
  max_failures_per_username: 5,
  max_failures_per_ip: 20,
  failure_window: 15 * 60,
  lockout: 15 * 60,
});

// No section default, like tokens.refresh_token_ttl: a file that does not mention the lockout
// loads to the same object as before, and the code applies LOGIN_PROTECTION_DEFAULTS.
const loginProtectionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    max_failures_per_username: { type: 'integer', minimum: 1, default: LOGIN_PROTECTION_DEFAULTS.max_failures_per_username },
    // Higher than per username by default because many people may share one address (NAT).
    max_failures_per_ip: { type: 'integer', minimum: 1, default: LOGIN_PROTECTION_DEFAULTS.max_failures_per_ip },
    failure_window: { duration: true, default: LOGIN_PROTECTION_DEFAULTS.failure_window },
    lockout: { duration: true, default: LOGIN_PROTECTION_DEFAULTS.lockout },
  },
} as const;

const proxySchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    max_buffered_body: { type: 'integer', minimum: 1024, default: 10 * 1024 * 1024 },
    paging_link_ttl: duration('1h'),
    cache_control: { ...nonEmptyString, default: 'no-store' },
  },
} as const;

const tokensSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    access_token_ttl: duration('1h'),
    signing_key_file: nonEmptyString,
    clock_skew: duration('30s'),
    // No schema defaults: the code applies them (authz/oauth-settings.ts), which keeps a
    // config that does not use refresh tokens or codes free of settings it never needed.
    refresh_token_ttl: duration(),
    authorization_code_ttl: duration(),
    key_rotation: duration(),
    launch_ttl: duration(),
  },
} as const;

// JWK members vary by key type (RSA, EC, OKP, ...) and are checked when the key is
// imported, so this is the one place where unknown keys are allowed.
const jwkSchema = {
  type: 'object',
  required: ['kty'],
  properties: { kty: nonEmptyString },
} as const;

const jwksSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['keys'],
  properties: { keys: { type: 'array', minItems: 1, items: jwkSchema } },
} as const;

const clientSchema = {
  type: 'object',
  additionalProperties: false,
  // `scope` has no default on purpose: what a client may be granted must be written down.
  required: ['client_id', 'scope'],
  properties: {
    client_id: nonEmptyString,
    client_name: { type: 'string' },
    client_secret: { ...nonEmptyString, secret: true },
    token_endpoint_auth_method: { enum: TOKEN_ENDPOINT_AUTH_METHODS, default: 'client_secret_basic' },
    grant_types: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { enum: GRANT_TYPES },
      default: ['client_credentials'],
    },
    scope: { type: 'string' },
    redirect_uris: { type: 'array', items: { type: 'string' }, default: [] },
    jwks: jwksSchema,
    jwks_uri: nonEmptyString,
    launch_uri: nonEmptyString,
    // No default: absent reads as false, and a loaded client lists only what was written.
    creates_launches: { type: 'boolean' },
  },
} as const;

export const IDENTITY_PROVIDER_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;

const identityProviderSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'issuer', 'client_id', 'fhir_user'],
  properties: {
    id: nonEmptyString,
    name: nonEmptyString,
    issuer: nonEmptyString,
    client_id: nonEmptyString,
    client_secret: { ...nonEmptyString, secret: true },
    token_endpoint_auth_method: { enum: IDENTITY_PROVIDER_AUTH_METHODS, default: 'client_secret_basic' },
    signing_key_file: nonEmptyString,
    scope: { type: 'string', default: 'openid' },
    fhir_user: nonEmptyString,
    patient: nonEmptyString,
    resource_scope: { type: 'string' },
    resource_scope_by_claim: {
      type: 'object',
      additionalProperties: false,
      required: ['claim', 'values'],
      properties: {
        claim: nonEmptyString,
        // Emptiness is checked by the rule below, whose message says what to write.
        values: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    allow_http: { type: 'boolean', default: false },
  },
} as const;

const userSchema = {
  type: 'object',
  additionalProperties: false,
  // `scope` has no default for the same reason as a client's.
  required: ['username', 'password_hash', 'scope'],
  properties: {
    username: nonEmptyString,
    // Not a secret as such, but offline guessing starts from it: never quote it back.
    password_hash: { ...nonEmptyString, secret: true },
    fhir_user: nonEmptyString,
    patient: nonEmptyString,
    scope: { type: 'string' },
  },
} as const;

const loggingSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    level: { enum: LOG_LEVELS, default: 'info' },
  },
} as const;

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['server', 'upstream'],
  properties: {
    server: serverSchema,
    upstream: upstreamSchema,
    store: storeSchema,
    tokens: tokensSchema,
    clients: { type: 'array', items: clientSchema, default: [] },
    users: { type: 'array', items: userSchema },
    identity_providers: { type: 'array', items: identityProviderSchema },
    logging: loggingSchema,
    rate_limits: rateLimitsSchema,
    audit: auditSchema,
    proxy: proxySchema,
    login_protection: loginProtectionSchema,
  },
} as const;

// ---------------------------------------------------------------------------------------
// Validator
// ---------------------------------------------------------------------------------------

const durationKeyword: FuncKeywordDefinition = {
  keyword: 'duration',
  schemaType: 'boolean',
  // Rewrites `1h` to 3600 in place, so the validated object already holds seconds.
  modifying: true,
  validate(enabled: boolean, data: unknown, _parentSchema, dataContext) {
    if (!enabled) return true;
    const seconds = parseDuration(data);
    if (seconds === undefined || dataContext === undefined) return false;
    dataContext.parentData[dataContext.parentDataProperty] = seconds;
    return true;
  },
};

const RATE_PERIODS: Record<string, number> = { s: 1, sec: 1, second: 1, m: 60, min: 60, minute: 60, h: 3600, hour: 3600, d: 86400, day: 86400 };

function parseRate(value: unknown): { limit: number; periodSeconds: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^\s*(\d+)\s*\/\s*([a-z]+)\s*$/.exec(value);
  const period = match ? RATE_PERIODS[match[2]!] : undefined;
  const limit = match ? Number(match[1]) : 0;
  return period && limit > 0 ? { limit, periodSeconds: period } : undefined;
}

const rateRuleKeyword: FuncKeywordDefinition = {
  keyword: 'rateRule',
  schemaType: 'boolean',
  modifying: true,
  errors: true,
  validate: Object.assign(
    function validateRate(enabled: boolean, data: unknown, _parentSchema: unknown, dataContext?: { parentData: any; parentDataProperty: string | number }) {
      if (!enabled) return true;
      const fail = (message: string) => {
        (validateRate as unknown as { errors: object[] }).errors = [{ keyword: 'rateRule', message, params: {} }];
        return false;
      };
      let rate = parseRate(data);
      let burst: number | undefined;
      if (!rate && data !== null && typeof data === 'object' && !Array.isArray(data)) {
        const { rate: r, burst: b, ...rest } = data as Record<string, unknown>;
        const unknown = Object.keys(rest);
        if (unknown.length > 0) return fail(`unknown key ${unknown[0]} (allowed: rate, burst)`);
        rate = parseRate(r);
        if (b !== undefined && (!Number.isInteger(b) || (b as number) < 0)) return fail('expected burst to be an integer >= 0');
        burst = b as number | undefined;
      }
      if (!rate || dataContext === undefined) return fail('expected a rate like 600/min, 10/s or 1000/hour, or { rate: 600/min, burst: 50 }');
      // Unwritten burst = the limit (GCRA with burst = limit): N/period admits N within any period.
      dataContext.parentData[dataContext.parentDataProperty] = { ...rate, burst: burst ?? rate.limit };
      return true;
    },
    { errors: [] as object[] },
  ),
};

/**
 * Compiles a fresh validator. Ajv validators keep the last run's errors on the function
 * object, so one is made per load rather than shared at module level.
 */
export function compileConfigValidator(): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true });
  ajv.addKeyword(durationKeyword);
  ajv.addKeyword(rateRuleKeyword);
  ajv.addKeyword({ keyword: 'secret', schemaType: 'boolean' });
  return ajv.compile(configSchema);
}

// ---------------------------------------------------------------------------------------
// Cross-field rules
// ---------------------------------------------------------------------------------------

export interface ConfigProblem {
  path: (string | number)[];
  message: string;
}

/** The validated document: GatewayConfig before the loader adds `source`. */
export type ValidatedConfig = Omit<GatewayConfig, 'source' | 'clients'> & {
  clients: ClientConfig[];
  users?: UserConfig[];
};

type SectionRules = { [Section in keyof ValidatedConfig]?: (section: ValidatedConfig[Section]) => ConfigProblem[] };

/**
 * Rules per top-level section. The loader runs a section's rule only when that section
 * passed the schema, so each rule may trust the types.
 */
export const sectionRules: SectionRules = {
  server: (server: ServerConfig) => [...httpUrlProblems(['server', 'public_url'], server.public_url), ...adminListenerProblems(server)],
  store: (store: StoreConfig) => [
    ...(store.url === undefined || /^rediss?:\/\//.test(store.url) ? [] : [{ path: ['store', 'url'], message: 'expected a redis:// or rediss:// URL' }]),
    ...storeTopologyProblems(store),
  ],
  upstream: (upstream: UpstreamConfig) => [
    ...httpUrlProblems(['upstream', 'url'], upstream.url),
    ...atLeastOneSecond(['upstream', 'timeout'], upstream.timeout),
    ...upstreamSectionProblems(upstream),
  ],
  tokens: (tokens) => [
    ...atLeastOneSecond(['tokens', 'access_token_ttl'], tokens.access_token_ttl),
    ...(tokens.refresh_token_ttl === undefined ? [] : atLeastOneSecond(['tokens', 'refresh_token_ttl'], tokens.refresh_token_ttl)),
    ...(tokens.authorization_code_ttl === undefined
      ? []
      : [
          ...atLeastOneSecond(['tokens', 'authorization_code_ttl'], tokens.authorization_code_ttl),
          // RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED".
          ...(tokens.authorization_code_ttl > 600 ? [{ path: ['tokens', 'authorization_code_ttl'], message: 'expected at most 10m' }] : []),
        ]),
    ...(tokens.key_rotation === undefined ? [] : atLeastOneSecond(['tokens', 'key_rotation'], tokens.key_rotation)),
    ...(tokens.launch_ttl === undefined ? [] : atLeastOneSecond(['tokens', 'launch_ttl'], tokens.launch_ttl)),
    ...(tokens.key_rotation !== undefined && tokens.signing_key_file !== undefined
      ? [{ path: ['tokens', 'key_rotation'], message: 'not with signing_key_file (rotate a key file by adding the new key first and sending SIGHUP)' }]
      : []),
  ],
  clients: (clients) => [
    ...duplicateClientIdProblems(clients),
    ...clients.flatMap((client, index) => clientProblems(client, ['clients', index])),
  ],
  users: (users) => [
    ...duplicateUsernameProblems(users ?? []),
    ...(users ?? []).flatMap((user, index) => userProblems(user, ['users', index])),
  ],
  proxy: (proxy) => cacheControlProblems(proxy.cache_control),
  audit: (audit: AuditConfig) => (audit.fhir === undefined ? [] : auditFhirProblems(audit.fhir)),
  login_protection: (protection) =>
    protection === undefined
      ? []
      : [
          ...atLeastOneSecond(['login_protection', 'failure_window'], protection.failure_window),
          ...atLeastOneSecond(['login_protection', 'lockout'], protection.lockout),
        ],
  identity_providers: (providers) => [
    ...duplicateIdentityProviderIdProblems(providers ?? []),
    ...(providers ?? []).flatMap((provider, index) => identityProviderProblems(provider, ['identity_providers', index])),
  ],
};

/** A header value the gateway sends as it is: visible ASCII and inner spaces, on one line. */
function cacheControlProblems(value: string): ConfigProblem[] {
  if (/^[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?$/.test(value)) return [];
  return [{ path: ['proxy', 'cache_control'], message: `expected a Cache-Control value such as "no-store" or "private, no-cache": visible ASCII characters and spaces on one line (got ${JSON.stringify(value)})` }];
}

function adminListenerProblems(server: ServerConfig): ConfigProblem[] {
  if (server.admin_port === undefined) {
    return server.admin_host === undefined ? [] : [{ path: ['server', 'admin_host'], message: 'only meaningful with admin_port' }];
  }
  // Port 0 asks the OS for a free port (tests), so two zeros are two different ports.
  if (server.admin_port !== 0 && server.admin_port === server.port) {
    return [{ path: ['server', 'admin_port'], message: `expected a port other than server.port (got ${server.admin_port})` }];
  }
  return [];
}

function auditFhirProblems(fhir: NonNullable<AuditConfig['fhir']>): ConfigProblem[] {
  return [
    ...httpUrlProblems(['audit', 'fhir', 'url'], fhir.url),
    ...atLeastOneSecond(['audit', 'fhir', 'flush_interval'], fhir.flush_interval),
    ...(fhir.queue_limit < fhir.batch_size
      ? [{ path: ['audit', 'fhir', 'queue_limit'], message: `expected at least batch_size (${fhir.batch_size}) (got ${fhir.queue_limit})` }]
      : []),
    ...(fhir.auth === undefined ? [] : auditAuthProblems(fhir.auth)),
  ];
}

/** audit.fhir.auth: upstream.auth's rules, then (when those hold) the files it names. */
function auditAuthProblems(auth: UpstreamAuthConfig): ConfigProblem[] {
  const at = ['audit', 'fhir', 'auth'];
  const problems = authProblems(auth, at);
  return problems.length > 0 ? problems : readAuthFiles(auth, at).problems;
}

/** SMART fhirUser may be one of these types ("Scopes and Launch Context", fhirUser). */
export const FHIR_USER_REFERENCE = /^(Practitioner|PractitionerRole|Patient|RelatedPerson|Person)\/[A-Za-z0-9\-.]{1,64}$/;
const PATIENT_REFERENCE = /^Patient\/[A-Za-z0-9\-.]{1,64}$/;
/** A FHIR resource id (R4 datatypes, id): what a launch's `patient` or `encounter` and a bare patient context are. */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

function userProblems(user: UserConfig, at: (string | number)[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!isValidPasswordHash(user.password_hash)) {
    problems.push({ path: [...at, 'password_hash'], message: 'expected a hash printed by `fhir-gateway hash-password` ($scrypt$ln=...)' });
  }
  if (user.fhir_user !== undefined && !FHIR_USER_REFERENCE.test(user.fhir_user)) {
    problems.push({
      path: [...at, 'fhir_user'],
      message: `expected a reference such as Practitioner/123 (Practitioner, PractitionerRole, Patient, RelatedPerson or Person) (got ${JSON.stringify(user.fhir_user)})`,
    });
  }
  if (user.patient !== undefined && !PATIENT_REFERENCE.test(user.patient)) {
    problems.push({ path: [...at, 'patient'], message: `expected a reference such as Patient/456 (got ${JSON.stringify(user.patient)})` });
  }
  if (!isScopeList(user.scope)) {
    problems.push({ path: [...at, 'scope'], message: `expected scope tokens separated by single spaces (got ${JSON.stringify(user.scope)})` });
  }
  return problems;
}

function duplicateUsernameProblems(users: UserConfig[]): ConfigProblem[] {
  const firstIndexByName = new Map<string, number>();
  const problems: ConfigProblem[] = [];
  users.forEach((user, index) => {
    const firstIndex = firstIndexByName.get(user.username);
    if (firstIndex === undefined) {
      firstIndexByName.set(user.username, index);
    } else {
      problems.push({
        path: ['users', index, 'username'],
        message: `duplicate username ${JSON.stringify(user.username)} (already used by users[${firstIndex}])`,
      });
    }
  });
  return problems;
}

const IDENTITY_PROVIDER_ID = /^[a-z0-9-]{1,64}$/;

function identityProviderProblems(provider: IdentityProviderConfig, at: (string | number)[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const problem = (key: string | (string | number)[], message: string) =>
    problems.push({ path: [...at, ...(Array.isArray(key) ? key : [key])], message });

  if (!IDENTITY_PROVIDER_ID.test(provider.id)) {
    problem('id', `expected 1 to 64 lowercase letters, digits and - (it is a URL path segment) (got ${JSON.stringify(provider.id)})`);
  }
  problems.push(...issuerProblems(provider, at));

  const method = provider.token_endpoint_auth_method;
  if (method !== 'private_key_jwt' && provider.client_secret === undefined) {
    problem('client_secret', `required when token_endpoint_auth_method is ${method}`);
  }
  if (method === 'private_key_jwt' && provider.client_secret !== undefined) {
    problem('client_secret', 'not allowed when token_endpoint_auth_method is private_key_jwt (the signing key authenticates the gateway)');
  }
  if (method === 'private_key_jwt' && provider.signing_key_file === undefined) {
    problem('signing_key_file', 'required when token_endpoint_auth_method is private_key_jwt');
  }
  if (method !== 'private_key_jwt' && provider.signing_key_file !== undefined) {
    problem('signing_key_file', 'only with token_endpoint_auth_method: private_key_jwt');
  }

  if (!isScopeList(provider.scope) || !provider.scope.split(' ').includes('openid')) {
    problem('scope', `expected scope tokens separated by single spaces, including openid (got ${JSON.stringify(provider.scope)})`);
  }
  if (!isFhirUserTemplate(provider.fhir_user)) {
    problem(
      'fhir_user',
      `expected a template such as Practitioner/{employee_id} (Practitioner, PractitionerRole, Patient, RelatedPerson or Person), or {fhirUser} for a claim holding the whole reference (got ${JSON.stringify(provider.fhir_user)})`,
    );
  }
  if (provider.patient !== undefined && !isPatientTemplate(provider.patient)) {
    problem('patient', `expected a template such as {patient_id} or Patient/{patient_id} (got ${JSON.stringify(provider.patient)})`);
  }

  if (provider.resource_scope === undefined && provider.resource_scope_by_claim === undefined) {
    problems.push({
      path: at,
      message: "resource_scope or resource_scope_by_claim is required: what this provider's people may grant an app must be written down",
    });
  }
  if (provider.resource_scope !== undefined && !isScopeList(provider.resource_scope)) {
    problem('resource_scope', `expected scope tokens separated by single spaces (got ${JSON.stringify(provider.resource_scope)})`);
  }
  if (provider.resource_scope_by_claim !== undefined && Object.keys(provider.resource_scope_by_claim.values).length === 0) {
    problem(['resource_scope_by_claim', 'values'], 'expected at least one claim value with its scopes, e.g. { clinicians: "user/*.rs" }');
  }
  for (const [value, scope] of Object.entries(provider.resource_scope_by_claim?.values ?? {})) {
    if (!isScopeList(scope)) {
      problem(['resource_scope_by_claim', 'values', value], `expected scope tokens separated by single spaces (got ${JSON.stringify(scope)})`);
    }
  }
  return problems;
}

/** OpenID Connect Discovery §2: an https URL without query or fragment; http only when the operator says so. */
function issuerProblems(provider: IdentityProviderConfig, at: (string | number)[]): ConfigProblem[] {
  const path = [...at, 'issuer'];
  const url = URL.canParse(provider.issuer) ? new URL(provider.issuer) : undefined;
  const shaped = url !== undefined && url.search === '' && url.hash === '' && !provider.issuer.includes('#') && !provider.issuer.includes('?');
  if (!shaped || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    return [{ path, message: `expected an absolute https URL without query or fragment (got ${JSON.stringify(provider.issuer)})` }];
  }
  if (url.protocol === 'http:' && !provider.allow_http) {
    return [{ path, message: `an http:// issuer needs allow_http: true (for tests and local providers only; use https) (got ${JSON.stringify(provider.issuer)})` }];
  }
  return [];
}

/** `Type/{claim}` for a SMART fhirUser type, or one `{claim}` holding a whole reference. */
function isFhirUserTemplate(template: string): boolean {
  const parts = parseClaimTemplate(template);
  if (!parts) return false;
  if (parts.length === 1) return true;
  return FHIR_USER_REFERENCE.test(sampleClaimTemplate(parts, 'x'));
}

/** A bare id (`{patient_id}`, `p-{mrn}`) or `Patient/{...}`. */
function isPatientTemplate(template: string): boolean {
  const parts = parseClaimTemplate(template);
  if (!parts) return false;
  const sample = sampleClaimTemplate(parts, 'x');
  return FHIR_ID.test(sample) || PATIENT_REFERENCE.test(sample);
}

function duplicateIdentityProviderIdProblems(providers: IdentityProviderConfig[]): ConfigProblem[] {
  const firstIndexById = new Map<string, number>();
  const problems: ConfigProblem[] = [];
  providers.forEach((provider, index) => {
    const firstIndex = firstIndexById.get(provider.id);
    if (firstIndex === undefined) {
      firstIndexById.set(provider.id, index);
    } else {
      problems.push({
        path: ['identity_providers', index, 'id'],
        message: `duplicate id ${JSON.stringify(provider.id)} (already used by identity_providers[${firstIndex}])`,
      });
    }
  });
  return problems;
}

function storeTopologyProblems(store: StoreConfig): ConfigProblem[] {
  const kinds = [store.url && 'url', store.sentinels && 'sentinels', store.cluster_nodes && 'cluster_nodes'].filter(Boolean);
  const problems: ConfigProblem[] = [];
  if (kinds.length > 1) problems.push({ path: ['store'], message: `use only one of url, sentinels, cluster_nodes (got ${kinds.join(', ')})` });
  if (store.sentinels && !store.sentinel_name) problems.push({ path: ['store', 'sentinel_name'], message: 'required with sentinels (the monitored master name)' });
  if (store.sentinel_name && !store.sentinels) problems.push({ path: ['store', 'sentinel_name'], message: 'only meaningful with sentinels' });
  return problems;
}

/** Rules that span sections. */
export function crossSectionProblems(config: ValidatedConfig): ConfigProblem[] {
  const embedded = !config.store.url && !config.store.sentinels && !config.store.cluster_nodes;
  if (embedded && config.server.workers !== 1) {
    return [{ path: ['server', 'workers'], message: 'more than one worker needs a shared store (set store.url): workers could not share the embedded store' }];
  }
  return [];
}

const SECRET_AUTH_METHODS: ReadonlySet<string> = new Set(['client_secret_basic', 'client_secret_post']);
const REDIRECTING_GRANT_TYPES = ['authorization_code', 'implicit'] as const;

function clientProblems(client: ClientConfig, at: (string | number)[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const method = client.token_endpoint_auth_method;

  if (SECRET_AUTH_METHODS.has(method) && client.client_secret === undefined) {
    problems.push({ path: [...at, 'client_secret'], message: `required when token_endpoint_auth_method is ${method}` });
  }
  if (method === 'none' && client.client_secret !== undefined) {
    problems.push({ path: [...at, 'client_secret'], message: 'not allowed when token_endpoint_auth_method is none' });
  }
  if (method === 'private_key_jwt' && client.jwks === undefined && client.jwks_uri === undefined) {
    problems.push({ path: at, message: 'token_endpoint_auth_method private_key_jwt needs jwks or jwks_uri' });
  }
  // RFC 7591 section 2: the two must not both be present.
  if (client.jwks !== undefined && client.jwks_uri !== undefined) {
    problems.push({ path: [...at, 'jwks_uri'], message: 'not allowed together with jwks' });
  }
  if (client.jwks_uri !== undefined) problems.push(...httpUrlProblems([...at, 'jwks_uri'], client.jwks_uri));

  for (const grantType of REDIRECTING_GRANT_TYPES) {
    if (client.grant_types.includes(grantType) && client.redirect_uris.length === 0) {
      problems.push({ path: [...at, 'redirect_uris'], message: `at least one entry is required for grant type ${grantType}` });
    }
  }
  client.redirect_uris.forEach((uri, index) => {
    if (!isAbsoluteUriWithoutFragment(uri)) {
      problems.push({
        path: [...at, 'redirect_uris', index],
        message: `expected an absolute URI without a fragment (got ${JSON.stringify(uri)})`,
      });
    }
  });
  if (!isScopeList(client.scope)) {
    problems.push({ path: [...at, 'scope'], message: `expected scope tokens separated by single spaces (got ${JSON.stringify(client.scope)})` });
  }
  problems.push(...launchProblems(client, at));
  return problems;
}

/** SMART EHR launch: where an app is launched, and who may create launches. */
function launchProblems(client: ClientConfig, at: (string | number)[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (client.launch_uri !== undefined) {
    const url = URL.canParse(client.launch_uri) ? new URL(client.launch_uri) : undefined;
    // A query is fine (iss and launch are appended to it); a fragment would swallow them.
    if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || client.launch_uri.includes('#')) {
      problems.push({ path: [...at, 'launch_uri'], message: `expected an absolute http(s) URL without a fragment (got ${JSON.stringify(client.launch_uri)})` });
    }
    if (!REDIRECTING_GRANT_TYPES.some((grantType) => client.grant_types.includes(grantType))) {
      problems.push({
        path: [...at, 'launch_uri'],
        message: 'only for clients with the authorization_code or implicit grant (an EHR launch continues with an authorize request)',
      });
    }
  }
  if (client.creates_launches === true && client.token_endpoint_auth_method === 'none') {
    problems.push({
      path: [...at, 'creates_launches'],
      message: 'only for confidential clients (POST /oauth/launch authenticates the EHR as the token endpoint does; token_endpoint_auth_method none cannot)',
    });
  }
  return problems;
}

function duplicateClientIdProblems(clients: ClientConfig[]): ConfigProblem[] {
  const firstIndexById = new Map<string, number>();
  const problems: ConfigProblem[] = [];
  clients.forEach((client, index) => {
    const firstIndex = firstIndexById.get(client.client_id);
    if (firstIndex === undefined) {
      firstIndexById.set(client.client_id, index);
    } else {
      problems.push({
        path: ['clients', index, 'client_id'],
        message: `duplicate client_id ${JSON.stringify(client.client_id)} (already used by clients[${firstIndex}])`,
      });
    }
  });
  return problems;
}

function httpUrlProblems(path: (string | number)[], value: string): ConfigProblem[] {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  const acceptable =
    url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === '' && !value.includes('#');
  return acceptable
    ? []
    : [{ path, message: `expected an absolute http(s) URL without query or fragment (got ${JSON.stringify(value)})` }];
}

function atLeastOneSecond(path: (string | number)[], seconds: number): ConfigProblem[] {
  return seconds >= 1 ? [] : [{ path, message: 'expected a duration of at least 1s (got 0)' }];
}

function isAbsoluteUriWithoutFragment(uri: string): boolean {
  // `new URL` requires a scheme, which is what makes a URI absolute; custom schemes of
  // native apps (com.example.app:/callback) are fine.
  return URL.canParse(uri) && !uri.includes('#');
}

