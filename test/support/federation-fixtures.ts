import type { Test } from 'tap';
import { randomToken } from '../../authz/crypto/random-token.js';
import { FederatedSignIns } from '../../authz/oauth/records/federated-sign-ins.js';
import { loadRelyingParties, type RelyingParties, type RelyingPartyOptions } from '../../authz/oauth/federation/relying-parties.js';
import { startFederatedSignIn } from '../../authz/oauth/federation/sign-in-redirect.js';
import { completeFederatedSignIn, type FederatedSignInSuccess } from '../../authz/oauth/federation/sign-in-callback.js';
import type { FederationFailure } from '../../authz/oauth/federation/federation-failure.js';
import { parseConfig } from '../../config/loader.js';
import type { IdentityProviderConfig } from '../../config/types.js';
import { MemoryStore } from '../../gateway/store/memory-store.js';
import type { Store } from '../../authz/store.js';
import { startTestOidcProvider, type TestOidcProvider, type TestOidcProviderOptions } from './oidc-provider.js';

/**
 * The federation building blocks wired as the gateway will wire them, against the in-process
 * oidc-provider: relying parties from a loaded config, sign-in records in a store, and helpers
 * that play the browser (press the provider button, sign in at the provider, come back).
 */
export const GATEWAY_PUBLIC_URL = 'https://gateway.example.test/fhir';

export const DR_KIM = {
  employee_id: 'E-1001',
  groups: ['clinicians'],
  name: 'Dr Kim Lee',
  email: 'kim.lee@hospital.example',
  email_verified: true,
};
export const PAT_JONES = { name: 'Pat Jones', patient_id: 'pat-jones', fhirUser: 'Patient/pat-jones', email: 'pat@example.net' };

export interface FederationSetup {
  idp: TestOidcProvider;
  provider: IdentityProviderConfig;
  relyingParties: RelyingParties;
  signIns: FederatedSignIns;
  store: Store;
  /** Press the button: start a sign-in for a new interaction in `browser`. */
  start(browser?: string, interactionId?: string): Promise<{ redirectTo: URL; browser: string; interactionId: string }>;
  /** Start, sign in at the provider as `account`, and return the callback URL the provider sent the browser to. */
  signInAtProvider(account: string, browser?: string): Promise<{ callback: URL; browser: string; interactionId: string }>;
  /** The gateway's callback handling for that URL. */
  complete(callback: URL, browser: string | undefined, providerId?: string): Promise<FederatedSignInSuccess | FederationFailure>;
}

export interface FederationSetupOptions {
  store?: Store;
  /** Keys of the identity_providers[] entry to replace (fhir_user, patient, resource_scope_by_claim...). */
  entry?: Record<string, unknown>;
  idp?: Partial<TestOidcProviderOptions>;
  relyingParty?: RelyingPartyOptions;
  /** Further identity_providers[] entries (raw), after the test provider's. */
  moreProviders?: Record<string, unknown>[];
}

export async function startFederation(t: Test, options: FederationSetupOptions = {}): Promise<FederationSetup> {
  const publicUrl = options.idp?.gatewayPublicUrl ?? GATEWAY_PUBLIC_URL;
  const idp = await startTestOidcProvider(t, {
    gatewayPublicUrl: publicUrl,
    accounts: { 'dr-kim': DR_KIM, 'pat-jones': PAT_JONES },
    ...options.idp,
  });
  const raw = {
    server: { public_url: publicUrl },
    upstream: { url: 'http://127.0.0.1:1/fhir' },
    identity_providers: [idp.gatewayEntry(options.entry), ...(options.moreProviders ?? [])],
  };
  const config = parseConfig(JSON.stringify(raw), 'federation-test.yaml', {});
  const relyingParties = await loadRelyingParties(config.identity_providers, config.server.public_url, options.relyingParty);
  let store = options.store;
  if (!store) {
    const memory = new MemoryStore();
    t.teardown(() => memory.close());
    store = memory;
  }
  const signIns = new FederatedSignIns(store);
  const providerId = idp.providerId;

  const start: FederationSetup['start'] = async (browser = randomToken(32), interactionId = randomToken(24)) => {
    const started = await startFederatedSignIn(relyingParties, signIns, { providerId, interactionId, browserBinding: browser });
    if (!started.ok) throw new Error(`sign-in did not start: ${started.kind}: ${started.description}`);
    return { redirectTo: started.redirectTo, browser, interactionId };
  };
  return {
    idp,
    provider: config.identity_providers![0]!,
    relyingParties,
    signIns,
    store,
    start,
    async signInAtProvider(account, browser) {
      const started = await start(browser);
      return { callback: await idp.signIn(started.redirectTo, account), browser: started.browser, interactionId: started.interactionId };
    },
    complete(callback, browser, id = providerId) {
      return completeFederatedSignIn(relyingParties, signIns, { providerId: id, query: callback.searchParams, browserBinding: browser });
    },
  };
}
