import type { GatewayConfig } from '../config/types.js';
import type { Store } from './store.js';
import type { AccessTokenSettings } from './tokens/access-token.js';
import { ClientRegistry } from './oauth/clients/client-registry.js';
import type { RelyingParties } from './oauth/federation/relying-parties.js';
import type { KeyRing } from './tokens/signing-keys.js';

/**
 * What a request needs from the configuration, as one immutable snapshot. A reload builds a
 * new snapshot and swaps it in; requests in flight keep the one they started with.
 */
export interface Runtime {
  readonly config: GatewayConfig;
  readonly clients: ClientRegistry;
  readonly keys: KeyRing;
  readonly tokens: AccessTokenSettings;
  readonly store: Store;
  /** Public FHIR base URL (= issuer), without a trailing slash. */
  readonly publicUrl: string;
  /** The gateway as relying party of each identity_providers[] entry (loadRelyingParties). */
  readonly relyingParties: RelyingParties;
}

export function buildRuntime(config: GatewayConfig, keys: KeyRing, store: Store, relyingParties: RelyingParties): Runtime {
  const publicUrl = config.server.public_url.replace(/\/+$/, '');
  return Object.freeze({
    config,
    clients: new ClientRegistry(config.clients),
    keys,
    store,
    publicUrl,
    relyingParties,
    tokens: {
      issuer: publicUrl,
      audience: publicUrl,
      ttlSeconds: config.tokens.access_token_ttl,
      clockSkewSeconds: config.tokens.clock_skew,
    },
  });
}

/** Holds the current snapshot; the only mutable reference, swapped whole on reload. */
export class RuntimeHolder {
  constructor(private current: Runtime) {}
  get(): Runtime {
    return this.current;
  }
  replace(next: Runtime): void {
    this.current = next;
  }
}
