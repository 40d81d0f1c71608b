/**
 * Reads one YAML file into a validated, defaulted, frozen GatewayConfig. Every problem
 * found is collected and reported together as `<file>: <key path>: <what was expected>`,
 * so an operator can fix the whole file in one pass.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import type { ErrorObject } from 'ajv';
import type { GatewayConfig } from './types.js';
import { DURATION_HINT } from './durations.js';
import { substituteEnvReferences, type KeyPathSegment } from './env-references.js';
import { compileConfigValidator, configSchema, crossSectionProblems, sectionRules, type ConfigProblem, type ValidatedConfig } from './schema.js';

export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * A ConfigError for problems found after loading (files the gateway reads again when it starts),
 * worded like the loader's own: `<file>: <key path>: <what was expected>`.
 */
export function configErrorFor(source: string, problems: readonly ConfigProblem[]): ConfigError {
  return new ConfigError(unique(problems.map((problem) => formatProblem(source, problem))));
}

const CONFIG_PATH_ENV = 'FHIR_GATEWAY_CONFIG';

/** `--config FILE` or `--config=FILE` (the last one wins), else $FHIR_GATEWAY_CONFIG. */
export function resolveConfigPath(argv: string[], env: NodeJS.ProcessEnv): string | undefined {
  let fromArgs: string | undefined;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === '--') break;
    if (arg === '--config') {
      fromArgs = argv[++index];
      if (fromArgs === undefined || fromArgs === '' || fromArgs.startsWith('--')) {
        throw new ConfigError(['--config needs a file path (--config FILE or --config=FILE)']);
      }
    } else if (arg.startsWith('--config=')) {
      fromArgs = arg.slice('--config='.length);
      if (fromArgs === '') throw new ConfigError(['--config needs a file path (--config FILE or --config=FILE)']);
    }
  }
  const fromEnv = env[CONFIG_PATH_ENV];
  return fromArgs ?? (fromEnv === undefined || fromEnv === '' ? undefined : fromEnv);
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`${path}: ${describeReadFailure(err)}`]);
  }
  return parseConfig(text, path, env);
}

export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv): GatewayConfig {
  const parsed = parseYaml(text, source);
  // An empty file is an empty mapping: the operator then learns which keys are required.
  const { value: substituted, problems: envProblems } = substituteEnvReferences(parsed ?? {}, env);
  if (!isMapping(substituted)) {
    throw new ConfigError([`${source}: expected a mapping of sections at the top level (got ${describeValue(substituted)})`]);
  }
  const document = coerceScalars(substituted, configSchema) as Record<string, unknown>;

  const validate = compileConfigValidator();
  const valid = validate(document);
  const schemaProblems = valid ? [] : (validate.errors ?? []).map((error) => schemaErrorToProblem(error, document));

  // A value whose variable is unset still holds the raw `${...}` text; saying it also has
  // the wrong type or shape would only repeat the same problem less clearly.
  const unresolvedPaths = new Set(envProblems.map((problem) => formatKeyPath(problem.path)));
  const structuralProblems = [
    ...envProblems,
    ...schemaProblems.filter((problem) => !unresolvedPaths.has(formatKeyPath(problem.path))),
  ];
  const config = document as ValidatedConfig;
  const ruleProblems = runSectionRules(config, structuralProblems);

  const messages = unique([...structuralProblems, ...ruleProblems].map((problem) => formatProblem(source, problem)));
  if (messages.length > 0) throw new ConfigError(messages);
  return deepFreeze(finishConfig(config, source));
}

// ---------------------------------------------------------------------------------------
// Reading and parsing
// ---------------------------------------------------------------------------------------

function describeReadFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'config file not found';
  if (code === 'EISDIR') return 'is a directory, not a config file';
  if (code === 'EACCES' || code === 'EPERM') return 'config file is not readable (permission denied)';
  return `cannot read config file (${err instanceof Error ? err.message : String(err)})`;
}

function parseYaml(text: string, source: string): unknown {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  // Warnings (e.g. an unknown `!tag`) are treated as errors: the value would otherwise be
  // read as something other than what the operator meant.
  const issues = [...document.errors, ...document.warnings];
  if (issues.length > 0) {
    throw new ConfigError(
      issues.map((issue) => {
        const { line, col } = lineCounter.linePos(issue.pos[0]);
        return `${source}:${line}:${col}: YAML syntax error: ${issue.message}`;
      }),
    );
  }
  return document.toJS();
}

// ---------------------------------------------------------------------------------------
// Coercion of whole-scalar references (`port: ${PORT:-8080}`)
// ---------------------------------------------------------------------------------------

interface SchemaNode {
  readonly [keyword: string]: unknown;
  type?: string;
  properties?: Readonly<Record<string, SchemaNode>>;
  items?: SchemaNode;
}

const SCALAR_COERCIONS: Readonly<Record<string, (text: string) => unknown>> = {
  integer: (text) => (/^-?\d+$/.test(text) ? Number(text) : text),
  number: (text) => (/^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text),
  boolean: (text) => (text === 'true' ? true : text === 'false' ? false : text),
};

/**
 * Turns strings that are entirely a number/boolean into that type where the schema asks
 * for one. Done by hand instead of Ajv's `coerceTypes`, which would also turn an empty
 * YAML value into 0 or "" and hide a missing setting.
 */
function coerceScalars(value: unknown, schema: SchemaNode): unknown {
  if (typeof value === 'string' && schema.type !== undefined) {
    return SCALAR_COERCIONS[schema.type]?.(value) ?? value;
  }
  if (Array.isArray(value)) {
    const itemSchema = schema.items;
    return itemSchema === undefined ? value : value.map((item) => coerceScalars(item, itemSchema));
  }
  if (isMapping(value) && schema.properties !== undefined) {
    const properties = schema.properties;
    return Object.fromEntries(
      Object.entries(value).map(([key, child]) => {
        const childSchema = Object.hasOwn(properties, key) ? properties[key] : undefined;
        return [key, childSchema === undefined ? child : coerceScalars(child, childSchema)];
      }),
    );
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// Schema errors -> problems
// ---------------------------------------------------------------------------------------

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  null: 'nothing',
};

function schemaErrorToProblem(error: ErrorObject, document: unknown): ConfigProblem {
  const path = pointerToKeyPath(error.instancePath, document);
  const got = `(got ${describeValue(error.data, error.parentSchema?.['secret'] === true)})`;
  const params = error.params as Record<string, unknown>;

  switch (error.keyword) {
    case 'required':
      return { path: [...path, String(params['missingProperty'])], message: 'required key is missing' };
    case 'additionalProperties': {
      const allowed = Object.keys((error.parentSchema?.['properties'] ?? {}) as object);
      return { path: [...path, String(params['additionalProperty'])], message: `unknown key (allowed: ${allowed.join(', ')})` };
    }
    case 'type': {
      const types = ([] as unknown[]).concat(params['type']).map((type) => TYPE_NAMES[String(type)] ?? String(type));
      return { path, message: `expected ${types.join(' or ')} ${got}` };
    }
    case 'enum':
      return { path, message: `expected one of ${(params['allowedValues'] as unknown[]).join(', ')} ${got}` };
    case 'duration':
      return { path, message: `${DURATION_HINT} ${got}` };
    case 'minimum':
      return { path, message: `expected at least ${String(params['limit'])} ${got}` };
    case 'maximum':
      return { path, message: `expected at most ${String(params['limit'])} ${got}` };
    case 'minLength':
      return { path, message: params['limit'] === 1 ? `expected a non-empty string ${got}` : `expected at least ${String(params['limit'])} characters` };
    case 'minItems':
      return { path, message: `expected at least ${String(params['limit'])} ${params['limit'] === 1 ? 'entry' : 'entries'}` };
    case 'uniqueItems':
      return { path, message: `expected no duplicates (entries [${String(params['j'])}] and [${String(params['i'])}] are the same)` };
    default:
      return { path, message: error.message ?? 'is invalid' };
  }
}

/** Ajv reports `/clients/2/redirect_uris/0`; the data tells which segments are list indexes. */
function pointerToKeyPath(pointer: string, document: unknown): KeyPathSegment[] {
  if (pointer === '') return [];
  const path: KeyPathSegment[] = [];
  let node: unknown = document;
  for (const encoded of pointer.slice(1).split('/')) {
    const key = encoded.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      path.push(Number(key));
      node = node[Number(key)];
    } else {
      path.push(key);
      node = isMapping(node) ? node[key] : undefined;
    }
  }
  return path;
}

// ---------------------------------------------------------------------------------------
// Cross-field rules, result
// ---------------------------------------------------------------------------------------

/**
 * Cross-field rules only run on sections that passed the schema (and have every variable
 * set): their types can then be trusted, and a broken section is not reported twice.
 */
function runSectionRules(config: ValidatedConfig, earlierProblems: ConfigProblem[]): ConfigProblem[] {
  const brokenSections = new Set(earlierProblems.map((problem) => problem.path[0]));
  const problems: ConfigProblem[] = [];
  for (const section of Object.keys(sectionRules) as (keyof typeof sectionRules)[]) {
    if (brokenSections.has(section) || config[section] === undefined) continue;
    const rule = sectionRules[section] as (value: unknown) => ConfigProblem[];
    problems.push(...rule(config[section]));
  }
  if (brokenSections.size === 0) problems.push(...crossSectionProblems(config));
  return problems;
}

function finishConfig(config: ValidatedConfig, source: string): GatewayConfig {
  return {
    ...config,
    source,
    server: { ...config.server, public_url: withoutTrailingSlash(config.server.public_url) },
    upstream: { ...config.upstream, url: withoutTrailingSlash(config.upstream.url) },
  };
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------

/** `clients[2].redirect_uris[0]`: dots between keys, brackets for list indexes. */
function formatKeyPath(path: readonly KeyPathSegment[]): string {
  return path.reduce<string>((text, segment) => {
    if (typeof segment === 'number') return `${text}[${segment}]`;
    return text === '' ? segment : `${text}.${segment}`;
  }, '');
}

function formatProblem(source: string, problem: ConfigProblem): string {
  const where = formatKeyPath(problem.path);
  return where === '' ? `${source}: ${problem.message}` : `${source}: ${where}: ${problem.message}`;
}

function describeValue(value: unknown, secret = false): string {
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (secret) return `a ${typeof value}`;
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function unique(messages: string[]): string[] {
  return [...new Set(messages)];
}
