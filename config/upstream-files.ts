/**
 * The files `upstream.tls` and `upstream.auth` name: CA and client certificates, the client
 * certificate's key, the private_key_jwt signing key, the Google service-account key file.
 *
 * Read and checked while the configuration loads, so an unreadable or invalid file is a
 * configuration error (the CLI exits 2, a reload is refused) rather than a failure on the first
 * request. The gateway reads them again through the same function to get the material.
 *
 * Messages name the file and what is wrong with it, never its content: parser messages that
 * may quote content (JSON.parse does) are not passed on.
 */
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { UpstreamConfig } from './types.js';
import { credentialUrlProblem } from './endpoint-urls.js';

export interface FileProblem {
  path: (string | number)[];
  message: string;
}

/** PEM text for node's TLS options. */
export interface UpstreamTlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

/** SMART Backend Services allows RS384 and ES384 for client assertions. */
export type AssertionAlgorithm = 'RS384' | 'ES384';

export interface UpstreamSigningKey {
  key: KeyObject;
  alg: AssertionAlgorithm;
  kid: string;
}

/** The members of a Google service-account key file the JWT-bearer grant uses. */
export interface GoogleServiceAccountKey {
  clientEmail: string;
  privateKey: KeyObject;
  /** Sent as the assertion's `kid` when the file has it. */
  privateKeyId?: string;
  tokenUri: string;
}

export interface UpstreamFiles {
  tls: UpstreamTlsFiles;
  signingKey?: UpstreamSigningKey;
  serviceAccount?: GoogleServiceAccountKey;
}

export interface UpstreamFilesResult {
  files: UpstreamFiles;
  problems: FileProblem[];
}

/** Reads every file the upstream section names; `now` (ms) decides whether the client certificate is current. */
export function readUpstreamFiles(upstream: UpstreamConfig, now: number = Date.now()): UpstreamFilesResult {
  const problems: FileProblem[] = [];
  const tls: UpstreamTlsFiles = {};
  const files: UpstreamFiles = { tls };
  const tlsConfig = upstream.tls;

  if (tlsConfig?.ca_file !== undefined) {
    const at = ['upstream', 'tls', 'ca_file'];
    const text = readText(tlsConfig.ca_file, at, problems);
    if (text !== undefined && certificatesIn(text, tlsConfig.ca_file, at, problems) !== undefined) tls.ca = text;
  }

  let leaf: X509Certificate | undefined;
  if (tlsConfig?.cert_file !== undefined) {
    const at = ['upstream', 'tls', 'cert_file'];
    const text = readText(tlsConfig.cert_file, at, problems);
    const certificates = text === undefined ? undefined : certificatesIn(text, tlsConfig.cert_file, at, problems);
    leaf = certificates?.[0];
    if (leaf !== undefined && certificateIsCurrent(leaf, tlsConfig.cert_file, now, at, problems)) tls.cert = text;
  }

  if (tlsConfig?.key_file !== undefined) {
    const at = ['upstream', 'tls', 'key_file'];
    const text = readText(tlsConfig.key_file, at, problems);
    const key = text === undefined ? undefined : pemPrivateKey(text, tlsConfig.key_file, at, problems);
    if (key !== undefined) {
      if (leaf !== undefined && !leaf.checkPrivateKey(key)) {
        problems.push({ path: at, message: `${tlsConfig.key_file} is not the private key of the certificate in upstream.tls.cert_file` });
      } else {
        tls.key = text;
      }
    }
  }

  if (upstream.auth !== undefined) {
    const auth = readAuthFiles(upstream.auth, ['upstream', 'auth']);
    Object.assign(files, auth.files);
    problems.push(...auth.problems);
  }
  return { files, problems };
}

/**
 * The files one auth section names (the private_key_jwt signing key, the service-account key):
 * `upstream.auth`, or another section of the same forms (`audit.fhir.auth`) named by `at`.
 */
export function readAuthFiles(
  auth: NonNullable<UpstreamConfig['auth']>,
  at: string[],
): { files: Pick<UpstreamFiles, 'signingKey' | 'serviceAccount'>; problems: FileProblem[] } {
  const problems: FileProblem[] = [];
  const files: Pick<UpstreamFiles, 'signingKey' | 'serviceAccount'> = {};
  if (auth.type === 'private_key_jwt') {
    const signingKey = readSigningKey(auth.signing_key_file, auth.kid, problems, at);
    if (signingKey !== undefined) files.signingKey = signingKey;
  }
  if (auth.type === 'google_service_account') {
    const serviceAccount = readServiceAccount(auth.key_file, problems, at);
    if (serviceAccount !== undefined) files.serviceAccount = serviceAccount;
  }
  return { files, problems };
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

function readText(path: string, at: FileProblem['path'], problems: FileProblem[]): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    problems.push({ path: at, message: `cannot read ${path} (${describeReadFailure(err)})` });
    return undefined;
  }
}

function describeReadFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return code ?? 'read failed';
}

function readJson(path: string, at: FileProblem['path'], expected: string, problems: FileProblem[]): unknown {
  const text = readText(path, at, problems);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // JSON.parse's message quotes the text around the error: never passed on.
    problems.push({ path: at, message: `${path} is not JSON (expected ${expected})` });
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// Certificates and PEM keys
// ---------------------------------------------------------------------------------------

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function certificatesIn(text: string, path: string, at: FileProblem['path'], problems: FileProblem[]): X509Certificate[] | undefined {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    problems.push({ path: at, message: `${path} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)` });
    return undefined;
  }
  const certificates: X509Certificate[] = [];
  for (const [index, block] of blocks.entries()) {
    try {
      certificates.push(new X509Certificate(block));
    } catch {
      problems.push({ path: at, message: `certificate ${index + 1} in ${path} cannot be parsed (expected PEM X.509)` });
      return undefined;
    }
  }
  return certificates;
}

function certificateIsCurrent(certificate: X509Certificate, path: string, now: number, at: FileProblem['path'], problems: FileProblem[]): boolean {
  const notBefore = Date.parse(certificate.validFrom);
  const notAfter = Date.parse(certificate.validTo);
  if (now > notAfter) {
    problems.push({ path: at, message: `the certificate in ${path} expired on ${new Date(notAfter).toISOString()}` });
    return false;
  }
  if (now < notBefore) {
    problems.push({ path: at, message: `the certificate in ${path} is not valid before ${new Date(notBefore).toISOString()}` });
    return false;
  }
  return true;
}

function pemPrivateKey(text: string, path: string, at: FileProblem['path'], problems: FileProblem[]): KeyObject | undefined {
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
    problems.push({ path: at, message: `${path} is an encrypted key; the gateway needs it unencrypted (protect the file's permissions instead)` });
    return undefined;
  }
  try {
    return createPrivateKey({ key: text, format: 'pem' });
  } catch {
    problems.push({ path: at, message: `${path} holds no usable PEM private key (expected -----BEGIN PRIVATE KEY----- or an RSA/EC key)` });
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// private_key_jwt signing key
// ---------------------------------------------------------------------------------------

const SIGNING_KEY_EXPECTED = 'a private RSA (RS384) or EC P-384 (ES384) JWK, or a JWKS whose first key is one';

function readSigningKey(path: string, configuredKid: string | undefined, problems: FileProblem[], section: string[]): UpstreamSigningKey | undefined {
  const at = [...section, 'signing_key_file'];
  const parsed = readJson(path, at, SIGNING_KEY_EXPECTED, problems);
  if (parsed === undefined) return undefined;
  const keys = isObject(parsed) && Array.isArray(parsed['keys']) ? (parsed['keys'] as unknown[]) : [parsed];
  const jwk = keys[0];
  if (!isObject(jwk) || typeof jwk['kty'] !== 'string') {
    problems.push({ path: at, message: `${path}: expected ${SIGNING_KEY_EXPECTED}` });
    return undefined;
  }
  const alg: AssertionAlgorithm | undefined = jwk['kty'] === 'RSA' ? 'RS384' : jwk['kty'] === 'EC' && jwk['crv'] === 'P-384' ? 'ES384' : undefined;
  if (alg === undefined) {
    problems.push({ path: at, message: `${path}: expected ${SIGNING_KEY_EXPECTED} (got kty ${JSON.stringify(jwk['kty'])}${jwk['crv'] ? `, crv ${JSON.stringify(jwk['crv'])}` : ''})` });
    return undefined;
  }
  if (typeof jwk['d'] !== 'string') {
    problems.push({ path: at, message: `${path}: the JWK is a public key; the gateway signs with it, so it needs the private key ("d")` });
    return undefined;
  }
  if (jwk['alg'] !== undefined && jwk['alg'] !== alg) {
    problems.push({ path: at, message: `${path}: the JWK's alg is ${JSON.stringify(jwk['alg'])}; SMART Backend Services asks for ${alg} with this key type` });
    return undefined;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch {
    problems.push({ path: at, message: `${path}: the JWK is not a valid ${jwk['kty']} private key` });
    return undefined;
  }
  if (alg === 'RS384' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    problems.push({ path: at, message: `${path}: the RSA key is shorter than 2048 bits` });
    return undefined;
  }
  const kid = configuredKid ?? (typeof jwk['kid'] === 'string' && jwk['kid'] !== '' ? jwk['kid'] : undefined);
  if (kid === undefined) {
    problems.push({ path: [...section, 'kid'], message: `required: the JWK in ${path} has no kid, and the token endpoint picks the key by it` });
    return undefined;
  }
  return { key, alg, kid };
}

// ---------------------------------------------------------------------------------------
// Google service-account key file
// ---------------------------------------------------------------------------------------

function readServiceAccount(path: string, problems: FileProblem[], section: string[]): GoogleServiceAccountKey | undefined {
  const at = [...section, 'key_file'];
  const parsed = readJson(path, at, 'a Google service-account key file', problems);
  if (parsed === undefined) return undefined;
  if (!isObject(parsed) || parsed['type'] !== 'service_account') {
    problems.push({ path: at, message: `${path}: expected a Google service-account key file ("type": "service_account")` });
    return undefined;
  }
  const missing = ['client_email', 'private_key', 'token_uri'].filter((name) => typeof parsed[name] !== 'string' || parsed[name] === '');
  if (missing.length > 0) {
    problems.push({ path: at, message: `${path}: missing ${missing.join(', ')} (expected a Google service-account key file)` });
    return undefined;
  }
  const tokenUri = parsed['token_uri'] as string;
  const uriProblem = credentialUrlProblem(tokenUri);
  if (uriProblem !== undefined) {
    problems.push({ path: at, message: `${path}: token_uri: ${uriProblem}` });
    return undefined;
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: parsed['private_key'] as string, format: 'pem' });
  } catch {
    problems.push({ path: at, message: `${path}: private_key is not a PEM private key` });
    return undefined;
  }
  if (privateKey.asymmetricKeyType !== 'rsa') {
    problems.push({ path: at, message: `${path}: private_key is not an RSA key (Google signs service-account assertions with RS256)` });
    return undefined;
  }
  const privateKeyId = typeof parsed['private_key_id'] === 'string' && parsed['private_key_id'] !== '' ? parsed['private_key_id'] : undefined;
  return {
    clientEmail: parsed['client_email'] as string,
    privateKey,
    tokenUri,
    ...(privateKeyId !== undefined ? { privateKeyId } : {}),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
