/**
 * `upstream.auth`, `upstream.tls` and `upstream.identity`: their sub-schemas (listed in
 * config/schema.ts's upstream section) and the rules JSON Schema expresses badly: which keys
 * each auth type takes, header names, and the files those sections name.
 *
 * None of the three sections has a default at the `upstream` level: absent means no
 * credentials, the system trust store, and no identity (the gateway applies those meanings);
 * present, each gets its own keys' defaults.
 */
import type { UpstreamAuthConfig, UpstreamAuthType, UpstreamConfig, UpstreamIdentityConfig, UpstreamIdentityHeaderNames, UpstreamTlsConfig } from './types.js';
import { credentialUrlProblem } from './endpoint-urls.js';
import { isScopeList } from './scope-syntax.js';
import { readUpstreamFiles, type FileProblem } from './upstream-files.js';

export const UPSTREAM_AUTH_TYPES = ['none', 'header', 'basic', 'client_credentials', 'private_key_jwt', 'google_service_account'] as const;

export const DEFAULT_IDENTITY_HEADER_NAMES: Readonly<UpstreamIdentityHeaderNames> = Object.freeze({
  client_id: 'X-Forwarded-Client-Id',
  user: 'X-Forwarded-User',
  fhir_user: 'X-Forwarded-Fhir-User',
  patient: 'X-Forwarded-Patient',
  scope: 'X-Forwarded-Scope',
});
/** The claims identity headers carry, by their key in header_names. */
export const IDENTITY_CLAIMS = ['client_id', 'user', 'fhir_user', 'patient', 'scope'] as const;
export const DEFAULT_ASSERTION_HEADER = 'X-Forwarded-Identity-Assertion';

const nonEmptyString = { type: 'string', minLength: 1 } as const;

// ---------------------------------------------------------------------------------------
// Sub-schemas
// ---------------------------------------------------------------------------------------

export const upstreamAuthSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: { enum: UPSTREAM_AUTH_TYPES, default: 'none' },
    token_url: nonEmptyString,
    issuer: nonEmptyString,
    client_id: nonEmptyString,
    client_secret: { ...nonEmptyString, secret: true },
    scope: { type: 'string' },
    audience: nonEmptyString,
    signing_key_file: nonEmptyString,
    kid: nonEmptyString,
    key_file: nonEmptyString,
    header: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'value'],
      properties: { name: nonEmptyString, value: { ...nonEmptyString, secret: true } },
    },
    basic: {
      type: 'object',
      additionalProperties: false,
      required: ['username', 'password'],
      properties: { username: nonEmptyString, password: { ...nonEmptyString, secret: true } },
    },
  },
} as const;

export const upstreamTlsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ca_file: nonEmptyString,
    cert_file: nonEmptyString,
    key_file: nonEmptyString,
    server_name: nonEmptyString,
    allow_insecure: { type: 'boolean', default: false },
  },
} as const;

export const upstreamIdentitySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    headers: { type: 'boolean', default: false },
    header_names: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        client_id: { ...nonEmptyString, default: DEFAULT_IDENTITY_HEADER_NAMES.client_id },
        user: { ...nonEmptyString, default: DEFAULT_IDENTITY_HEADER_NAMES.user },
        fhir_user: { ...nonEmptyString, default: DEFAULT_IDENTITY_HEADER_NAMES.fhir_user },
        patient: { ...nonEmptyString, default: DEFAULT_IDENTITY_HEADER_NAMES.patient },
        scope: { ...nonEmptyString, default: DEFAULT_IDENTITY_HEADER_NAMES.scope },
      },
    },
    omit_headers: { type: 'array', uniqueItems: true, items: { enum: IDENTITY_CLAIMS }, default: [] },
    assertion: { type: 'boolean', default: false },
    assertion_header: { ...nonEmptyString, default: DEFAULT_ASSERTION_HEADER },
    forward_token: { type: 'boolean', default: false },
  },
} as const;

// ---------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------

export type UpstreamProblem = FileProblem;

/**
 * Every cross-field rule of auth, tls and identity, then the files named by those of auth and
 * tls that hold (a file is not read for a section that is wrong anyway).
 */
export function upstreamSectionProblems(upstream: UpstreamConfig, now: number = Date.now()): UpstreamProblem[] {
  const auth = upstream.auth === undefined ? [] : authProblems(upstream.auth);
  const tls = upstream.tls === undefined ? [] : tlsProblems(upstream.tls, upstream.url);
  const identity = upstream.identity === undefined ? [] : identityProblems(upstream.identity, upstream.auth);
  const { auth: _auth, tls: _tls, ...rest } = upstream;
  const readable: UpstreamConfig = {
    ...rest,
    ...(auth.length === 0 && upstream.auth !== undefined ? { auth: upstream.auth } : {}),
    ...(tls.length === 0 && upstream.tls !== undefined ? { tls: upstream.tls } : {}),
  };
  return [...auth, ...tls, ...identity, ...readUpstreamFiles(readable, now).problems];
}

type AuthKey = Exclude<keyof UnionKeys<UpstreamAuthConfig>, 'type'>;
type UnionKeys<T> = { [K in T extends unknown ? keyof T : never]: true };

const ALL_AUTH_KEYS: readonly AuthKey[] = ['token_url', 'issuer', 'client_id', 'client_secret', 'scope', 'audience', 'signing_key_file', 'kid', 'key_file', 'header', 'basic'];

/** Keys each type needs, and the further keys it accepts. */
const AUTH_KEYS: Readonly<Record<UpstreamAuthType, { required: readonly AuthKey[]; optional: readonly AuthKey[] }>> = {
  none: { required: [], optional: [] },
  header: { required: ['header'], optional: [] },
  basic: { required: ['basic'], optional: [] },
  client_credentials: { required: ['client_id', 'client_secret'], optional: ['token_url', 'issuer', 'scope', 'audience'] },
  private_key_jwt: { required: ['client_id', 'signing_key_file'], optional: ['token_url', 'issuer', 'scope', 'audience', 'kid'] },
  google_service_account: { required: ['key_file'], optional: ['scope'] },
};

const TOKEN_ENDPOINT_TYPES: ReadonlySet<UpstreamAuthType> = new Set(['client_credentials', 'private_key_jwt']);

/**
 * The rules of one auth section: `upstream.auth`, or another that takes the same forms
 * (`audit.fhir.auth`), named by `at` in the messages.
 */
export function authProblems(auth: UpstreamAuthConfig, at: string[] = ['upstream', 'auth']): UpstreamProblem[] {
  const present = auth as Partial<Record<AuthKey, unknown>>;
  const { required, optional } = AUTH_KEYS[auth.type];
  const accepted = new Set<AuthKey>([...required, ...optional]);
  const problems: UpstreamProblem[] = [];

  for (const key of required) {
    if (present[key] === undefined) problems.push({ path: [...at, key], message: `required when type is ${auth.type}` });
  }
  for (const key of ALL_AUTH_KEYS) {
    if (present[key] !== undefined && !accepted.has(key)) {
      problems.push({ path: [...at, key], message: `not used with type ${auth.type} (its keys: ${['type', ...required, ...optional].join(', ')})` });
    }
  }

  if (TOKEN_ENDPOINT_TYPES.has(auth.type)) {
    if (present.token_url === undefined && present.issuer === undefined) {
      problems.push({ path: at, message: `type ${auth.type} needs token_url, or issuer to discover it` });
    }
    if (present.token_url !== undefined && present.issuer !== undefined) {
      problems.push({ path: [...at, 'issuer'], message: 'not together with token_url (give one of them)' });
    }
  }
  for (const key of ['token_url', 'issuer'] as const) {
    const value = present[key];
    if (typeof value !== 'string' || !accepted.has(key)) continue;
    const problem = credentialUrlProblem(value);
    if (problem !== undefined) problems.push({ path: [...at, key], message: problem });
  }
  if (typeof present.scope === 'string' && accepted.has('scope') && !isScopeList(present.scope)) {
    problems.push({ path: [...at, 'scope'], message: `expected scope tokens separated by single spaces (got ${JSON.stringify(present.scope)})` });
  }
  // Only when present: a missing `header` / `basic` is reported above as required.
  if (auth.type === 'header' && present.header !== undefined) {
    problems.push(...headerNameProblems([...at, 'header', 'name'], auth.header.name, CREDENTIAL_HEADER_RESERVED));
    if (!isFieldValue(auth.header.value)) {
      problems.push({ path: [...at, 'header', 'value'], message: 'expected visible characters and inner spaces only (no line breaks, control characters or surrounding whitespace)' });
    }
  }
  if (auth.type === 'basic' && present.basic !== undefined) {
    // RFC 7617 §2: the user-id cannot contain a colon; neither part may hold control characters.
    if (auth.basic.username.includes(':') || CONTROL_CHARACTER.test(auth.basic.username)) {
      problems.push({ path: [...at, 'basic', 'username'], message: 'expected no colon and no control characters (RFC 7617)' });
    }
    if (CONTROL_CHARACTER.test(auth.basic.password)) {
      problems.push({ path: [...at, 'basic', 'password'], message: 'expected no control characters (RFC 7617)' });
    }
  }
  return problems;
}

function tlsProblems(tls: UpstreamTlsConfig, upstreamUrl: string): UpstreamProblem[] {
  const at = ['upstream', 'tls'];
  const problems: UpstreamProblem[] = [];
  if ((tls.cert_file === undefined) !== (tls.key_file === undefined)) {
    const missing = tls.cert_file === undefined ? 'cert_file' : 'key_file';
    const given = missing === 'cert_file' ? 'key_file' : 'cert_file';
    problems.push({ path: [...at, missing], message: `required with ${given} (a client certificate needs both)` });
  }
  if (tls.allow_insecure && tls.ca_file !== undefined) {
    problems.push({ path: [...at, 'allow_insecure'], message: 'not together with ca_file: allow_insecure turns certificate verification off, so the CA would be ignored' });
  }
  if (tls.server_name !== undefined) {
    if (!HOSTNAME.test(tls.server_name)) {
      problems.push({ path: [...at, 'server_name'], message: `expected a DNS name (got ${JSON.stringify(tls.server_name)})` });
    }
    if (URL.canParse(upstreamUrl) && new URL(upstreamUrl).protocol !== 'https:') {
      problems.push({ path: [...at, 'server_name'], message: 'only used with an https upstream.url' });
    }
  }
  return problems;
}

function identityProblems(identity: UpstreamIdentityConfig, auth: UpstreamAuthConfig | undefined): UpstreamProblem[] {
  const at = ['upstream', 'identity'];
  const problems: UpstreamProblem[] = [];
  if (identity.forward_token && auth !== undefined && auth.type !== 'none') {
    problems.push({
      path: [...at, 'forward_token'],
      message: `not with upstream.auth.type ${auth.type}: both would set Authorization (forward the client's token only to an upstream that trusts the gateway's JWKS, with auth.type none)`,
    });
  }
  // In a fixed order, so a duplicate is reported at the later key whatever order the file used.
  const named: [string[], string][] = [
    ...(Object.keys(DEFAULT_IDENTITY_HEADER_NAMES) as (keyof UpstreamIdentityHeaderNames)[]).map((claim): [string[], string] => [
      [...at, 'header_names', claim],
      identity.header_names[claim],
    ]),
    [[...at, 'assertion_header'], identity.assertion_header],
  ];
  const firstByName = new Map<string, string[]>();
  for (const [path, name] of named) {
    const nameProblems = headerNameProblems(path, name, IDENTITY_HEADER_RESERVED);
    problems.push(...nameProblems);
    if (nameProblems.length > 0) continue;
    const normalized = normalizeHeaderName(name);
    const first = firstByName.get(normalized);
    if (first !== undefined) {
      problems.push({ path, message: `${JSON.stringify(name)} is already used by ${first.join('.')}` });
    } else {
      firstByName.set(normalized, path);
    }
    if (auth?.type === 'header' && normalizeHeaderName(auth.header.name) === normalized) {
      problems.push({ path, message: `${JSON.stringify(name)} is the credential header upstream.auth.header.name` });
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Header names and values
// ---------------------------------------------------------------------------------------

/** RFC 9110 §5.1 field-name = token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 §5.5 field-value: visible characters, spaces and tabs (obs-text allowed). */
const FIELD_VALUE = /^[\t\x20-\x7E\x80-\xFF]*$/;
const CONTROL_CHARACTER = /[\x00-\x1F\x7F]/;
const HOSTNAME = /^(?=.{1,253}$)(?!\d+\.\d+\.\d+\.\d+$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Headers whose meaning belongs to HTTP, to FHIR's REST semantics or to the gateway's own
 * forwarding; a configured header must not take one of them over.
 */
const PROTOCOL_HEADERS = [
  'host', 'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'upgrade',
  'transfer-encoding', 'content-length', 'content-type', 'content-encoding', 'content-location', 'content-range', 'expect',
  'cookie', 'set-cookie', 'accept', 'accept-encoding', 'accept-language', 'range', 'if-match', 'if-none-match',
  'if-modified-since', 'if-unmodified-since', 'if-none-exist', 'prefer', 'forwarded', 'via',
  'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-request-id',
];
/** A static credential may be `Authorization: Bearer ...` or `Authorization: ApiKey ...`. */
const CREDENTIAL_HEADER_RESERVED: ReadonlySet<string> = new Set(PROTOCOL_HEADERS);
const IDENTITY_HEADER_RESERVED: ReadonlySet<string> = new Set([...PROTOCOL_HEADERS, 'authorization']);

/**
 * How proxies and application servers may read a header name: case-insensitively, and with `_`
 * taken for `-` (CGI-style servers, some frameworks). Two names with the same normalized form
 * are the same header to somebody.
 */
export function normalizeHeaderName(name: string): string {
  return name.toLowerCase().replace(/_/g, '-');
}

function headerNameProblems(path: string[], name: string, reserved: ReadonlySet<string>): UpstreamProblem[] {
  if (!TOKEN.test(name)) return [{ path, message: `expected an HTTP header name (letters, digits and !#$%&'*+-.^_\`|~) (got ${JSON.stringify(name)})` }];
  if (reserved.has(normalizeHeaderName(name))) return [{ path, message: `${JSON.stringify(name)} is a header the gateway or HTTP itself sets; choose another name` }];
  return [];
}

function isFieldValue(value: string): boolean {
  return FIELD_VALUE.test(value) && value.trim() === value;
}
