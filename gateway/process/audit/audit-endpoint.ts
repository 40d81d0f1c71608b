/**
 * Where the AuditEvents go and how the gateway proves itself there (`audit.fhir`):
 *
 *  - credentials: `audit.fhir.auth` when written; otherwise the upstream's (`upstream.auth`) when
 *    `url` is the upstream's base, and none for another server. Built by the upstream
 *    credentials factory (gateway/upstream/credentials/), so every form of upstream.auth works
 *    the same here: a token kind fetches, caches and renews its own token.
 *  - TLS: the upstream's settings (`upstream.tls`: private CA, client certificate, server_name)
 *    when the endpoint is on the upstream's origin; the system's trust store for another server.
 *  - references inside the AuditEvents: relative when they are stored on the upstream (the server
 *    that holds the data), absolute against server.public_url anywhere else.
 */
import { Agent, type Dispatcher } from 'undici';
import { configErrorFor } from '../../../config/loader.js';
import type { AuditFhirConfig, GatewayConfig, UpstreamAuthConfig } from '../../../config/types.js';
import { readAuthFiles, readUpstreamFiles, type UpstreamFiles } from '../../../config/upstream-files.js';
import { createUpstreamCredentials } from '../../upstream/credentials/create-credentials.js';
import type { CredentialsLog, UpstreamCredentials } from '../../upstream/credentials/upstream-credentials.js';
import { tlsConnector, upstreamTls } from '../../upstream/tls.js';

export interface AuditEndpoint {
  /** audit.fhir.url. */
  url: string;
  credentials: UpstreamCredentials;
  /** The HTTP client for the endpoint, with its TLS settings. */
  dispatcher: Dispatcher;
  /** References in the AuditEvents are made absolute (against the public URL): the endpoint is not the upstream. */
  absoluteReferences: boolean;
  /** Where the credentials came from, for the start-up log line. */
  credentialsFrom: 'audit.fhir.auth' | 'upstream.auth' | 'none';
  /** Closes the endpoint's and the token endpoint's connections. */
  close(): Promise<void>;
}

/** Throws a ConfigError when a file named by upstream.tls or the auth in use is no longer usable. */
export function createAuditEndpoint(
  config: Pick<GatewayConfig, 'source' | 'upstream'> & { audit: { fhir: AuditFhirConfig } },
  log: CredentialsLog,
): AuditEndpoint {
  const fhir = config.audit.fhir;
  const isUpstreamBase = sameBase(fhir.url, config.upstream.url);
  const onUpstreamOrigin = new URL(fhir.url).origin === new URL(config.upstream.url).origin;
  const { auth, from } = credentialsFor(fhir, config.upstream.auth, isUpstreamBase);

  // The upstream's TLS files only when the endpoint is the upstream's host; its auth's files only
  // when its auth is the one in use; audit.fhir.auth's own files otherwise.
  const upstreamFiles = onUpstreamOrigin || from === 'upstream.auth' ? readUpstreamFiles(config.upstream) : undefined;
  const ownFiles = from === 'audit.fhir.auth' && auth !== undefined ? readAuthFiles(auth, ['audit', 'fhir', 'auth']) : undefined;
  const problems = [...(upstreamFiles?.problems ?? []), ...(ownFiles?.problems ?? [])];
  if (problems.length > 0) throw configErrorFor(config.source, problems);

  const tls = onUpstreamOrigin ? upstreamTls(config.upstream.tls, upstreamFiles!.files.tls) : upstreamTls(undefined, {});
  const files: UpstreamFiles = {
    tls: onUpstreamOrigin ? upstreamFiles!.files.tls : {},
    ...(from === 'upstream.auth' ? authFilesOf(upstreamFiles!.files) : {}),
    ...(ownFiles?.files ?? {}),
  };
  // The factory reads only `auth` and `timeout` (for its token requests) of the section it is given.
  const credentials = createUpstreamCredentials({ upstream: { ...config.upstream, auth: auth ?? { type: 'none' } }, files, tls, log });

  const timeoutMs = config.upstream.timeout * 1000;
  const dispatcher = new Agent({
    connect: tlsConnector({ ...(onUpstreamOrigin ? tls.connect : { rejectUnauthorized: true }), timeout: timeoutMs }),
    // One batch at a time per instance: a couple of connections are plenty.
    connections: 2,
  });
  return {
    url: fhir.url,
    credentials,
    dispatcher,
    absoluteReferences: !isUpstreamBase,
    credentialsFrom: from,
    async close() {
      await Promise.allSettled([dispatcher.close(), credentials.close()]);
    },
  };
}

function credentialsFor(
  fhir: AuditFhirConfig,
  upstreamAuth: UpstreamAuthConfig | undefined,
  isUpstreamBase: boolean,
): { auth: UpstreamAuthConfig | undefined; from: AuditEndpoint['credentialsFrom'] } {
  if (fhir.auth !== undefined) return { auth: fhir.auth, from: fhir.auth.type === 'none' ? 'none' : 'audit.fhir.auth' };
  if (isUpstreamBase && upstreamAuth !== undefined && upstreamAuth.type !== 'none') return { auth: upstreamAuth, from: 'upstream.auth' };
  return { auth: undefined, from: 'none' };
}

function authFilesOf(files: UpstreamFiles): Pick<UpstreamFiles, 'signingKey' | 'serviceAccount'> {
  return {
    ...(files.signingKey !== undefined ? { signingKey: files.signingKey } : {}),
    ...(files.serviceAccount !== undefined ? { serviceAccount: files.serviceAccount } : {}),
  };
}

/** The same FHIR base: scheme, host, port and path alike once normalized (case of the host, default port, trailing slash). */
export function sameBase(a: string, b: string): boolean {
  const base = (url: string) => {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
  };
  return base(a) === base(b);
}
