/**
 * Everything issue 11 adds to talking to the upstream, built once from the configuration: the
 * files read again (a file that became unreadable since the config loaded is a ConfigError,
 * reported like the loader's), the TLS options, the credentials, the identity steps.
 * gateway/server.ts builds it once at start: its TLS options go to the forwarder's connections,
 * its credentials and identity to the UpstreamClient (upstream-client.ts) every request to the
 * upstream goes through.
 */
import type { GatewayConfig } from '../../config/types.js';
import { configErrorFor } from '../../config/loader.js';
import { readUpstreamFiles } from '../../config/upstream-files.js';
import type { KeyRing } from '../../authz/tokens/signing-keys.js';
import { createUpstreamCredentials } from './credentials/create-credentials.js';
import type { CredentialsLog, TokenRequestEvent, UpstreamCredentials } from './credentials/upstream-credentials.js';
import { createUpstreamIdentity, type UpstreamIdentity } from './identity.js';
import { upstreamTls, type UpstreamTls } from './tls.js';

export interface UpstreamSetup {
  tls: UpstreamTls;
  credentials: UpstreamCredentials;
  identity: UpstreamIdentity;
  /** Closes the token endpoint's connections. */
  close(): Promise<void>;
}

export interface UpstreamSetupOptions {
  config: Pick<GatewayConfig, 'source' | 'upstream' | 'server'>;
  log: CredentialsLog;
  /** The gateway's current signing keys, for identity assertions. */
  keys: () => KeyRing;
  onTokenRequest?: (event: TokenRequestEvent) => void;
}

/** Throws a ConfigError when a file named by upstream.tls or upstream.auth is no longer usable. */
export function createUpstreamSetup(options: UpstreamSetupOptions): UpstreamSetup {
  const { config, log } = options;
  const { files, problems } = readUpstreamFiles(config.upstream);
  if (problems.length > 0) throw configErrorFor(config.source, problems);
  const tls = upstreamTls(config.upstream.tls, files.tls, log);
  const credentials = createUpstreamCredentials({
    upstream: config.upstream,
    files,
    tls,
    log,
    ...(options.onTokenRequest !== undefined ? { onTokenRequest: options.onTokenRequest } : {}),
  });
  const identity = createUpstreamIdentity({ upstream: config.upstream, issuer: config.server.public_url, keys: options.keys });
  return { tls, credentials, identity, close: () => credentials.close() };
}
