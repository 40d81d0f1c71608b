import type { TokensConfig } from '../../config/types.js';
import { buildRuntime, type RuntimeHolder } from '../../authz/runtime.js';
import { loadKeyRing, nextEpochStartMs, sameKeys, type KeyRing, type KeyRingOptions } from '../../authz/tokens/signing-keys.js';
import { StoreUnavailableError, type Store } from '../../authz/store.js';

interface StartupLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

interface StartupOptions {
  /** Holds a runtime built with PENDING_KEYS; the real keys are swapped in when loaded. */
  runtime: RuntimeHolder;
  store: Store;
  log: StartupLog;
  /** Backoff between connection attempts (ms): doubles from `initialMs` up to `maxMs`. */
  retry?: { initialMs?: number; maxMs?: number };
  now?: () => number;
}

export interface GatewayStartup {
  /** The store answered and the signing keys are loaded: requests can be served. */
  ready(): boolean;
  /** Resolves once ready (never rejects; never resolves if stopped first). */
  whenReady: Promise<void>;
  /**
   * Keys for a configuration being reloaded: a key file is read now (a bad one rejects, so the
   * reload is refused); generated keys come from the store (or, before the store is reachable,
   * are loaded by the background start with the reloaded settings).
   */
  keysFor(tokens: TokensConfig): Promise<KeyRing>;
  /** Stops the background retries and the rotation timer. */
  stop(): void;
}

/**
 * Placeholder keys of a runtime that is not ready yet. The gate keeps requests from reaching
 * anything that signs or verifies; should one slip through, it fails as a store outage (503),
 * never as an invalid token.
 */
export const PENDING_KEYS: KeyRing = Object.freeze({
  get signing(): never {
    throw new StoreUnavailableError(new Error('signing keys are not loaded yet'));
  },
  byKid: new Map(),
  jwks(): never {
    throw new StoreUnavailableError(new Error('signing keys are not loaded yet'));
  },
}) as KeyRing;

function keyOptions(tokens: TokensConfig, store: Store, log: StartupLog): KeyRingOptions {
  return {
    ...(tokens.signing_key_file !== undefined ? { signingKeyFile: tokens.signing_key_file } : {}),
    ...(tokens.key_rotation !== undefined ? { keyRotation: tokens.key_rotation } : {}),
    verifyWindowSeconds: tokens.access_token_ttl + tokens.clock_skew,
    store,
    log,
  };
}

/**
 * Brings the gateway up without waiting for its store. The process listens at once: /healthz
 * answers 200, /readyz 503, every other request 503 until the store is reachable and the
 * signing keys are loaded. Connection attempts go on in the background with capped exponential
 * backoff; the log gets one line when the store is found unreachable and one when the gateway
 * becomes ready -- not one per attempt.
 *
 * A key file is read before this returns (it needs no store), so a bad one still stops the
 * process at start.
 *
 * With `tokens.key_rotation`, the ring is rebuilt at every epoch boundary and swapped into the
 * runtime when its keys changed.
 */
export async function startStoreAndKeys(options: StartupOptions): Promise<GatewayStartup> {
  const { runtime, store, log } = options;
  const now = options.now ?? Date.now;
  const initialMs = options.retry?.initialMs ?? 100;
  const maxMs = options.retry?.maxMs ?? 2_000;
  const tokens = () => runtime.get().config.tokens;
  const swapKeys = (keys: KeyRing) => {
    const current = runtime.get();
    if (current.keys !== PENDING_KEYS && sameKeys(current.keys, keys)) return;
    runtime.replace(buildRuntime(current.config, keys, current.store, current.relyingParties));
  };

  // A key file: read now, so a broken one is a start failure rather than an endless retry.
  const initialTokens = tokens();
  if (initialTokens.signing_key_file !== undefined) swapKeys(await loadKeyRing(keyOptions(initialTokens, store, log)));

  let isReady = false;
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let rotationTimer: NodeJS.Timeout | undefined;
  let resolveReady!: () => void;
  const whenReady = new Promise<void>((resolve) => (resolveReady = resolve));

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      retryTimer = setTimeout(resolve, ms);
      retryTimer.unref();
    });

  const scheduleRotation = (rotationSeconds: number | undefined) => {
    clearTimeout(rotationTimer);
    rotationTimer = undefined;
    if (stopped || rotationSeconds === undefined || tokens().signing_key_file !== undefined) return;
    const delay = Math.max(10, nextEpochStartMs(now(), rotationSeconds) - now() + 10);
    rotationTimer = setTimeout(() => void rotate(), delay);
    rotationTimer.unref();
  };

  let rotationFailing = false;
  const rotate = async () => {
    const settings = tokens();
    if (stopped || settings.key_rotation === undefined || settings.signing_key_file !== undefined) return;
    try {
      swapKeys(await loadKeyRing(keyOptions(settings, store, log)));
      if (rotationFailing) log.info({}, 'signing key rotation works again');
      rotationFailing = false;
      scheduleRotation(settings.key_rotation);
    } catch (err) {
      if (!rotationFailing) log.warn({ err: errorMessage(err) }, 'signing key rotation failed (store unreachable?); retrying every second, the current keys stay in use');
      rotationFailing = true;
      if (stopped) return;
      clearTimeout(rotationTimer);
      rotationTimer = setTimeout(() => void rotate(), 1_000);
      rotationTimer.unref();
    }
  };

  const run = async () => {
    let delay = initialMs;
    let attempts = 0;
    let reportedDown = false;
    while (!stopped) {
      attempts++;
      try {
        await store.connect();
        const settings = tokens();
        // Keys from a file are in the runtime already; generated ones need the store.
        if (settings.signing_key_file === undefined) swapKeys(await loadKeyRing(keyOptions(settings, store, log)));
        if (stopped) return;
        isReady = true;
        log.info({ store: store.kind, attempts }, 'gateway ready: store reachable and signing keys loaded');
        resolveReady();
        scheduleRotation(settings.key_rotation);
        return;
      } catch (err) {
        if (stopped) return;
        if (!reportedDown) {
          reportedDown = true;
          log.warn(
            { store: store.kind, err: errorMessage(err) },
            'store unreachable at start: the gateway answers 503 (and /readyz 503) until it is; retrying in the background',
          );
        }
        await sleep(delay);
        delay = Math.min(delay * 2, maxMs);
      }
    }
  };
  void run();

  return {
    ready: () => isReady,
    whenReady,
    async keysFor(next) {
      if (next.signing_key_file !== undefined) {
        const keys = await loadKeyRing(keyOptions(next, store, log));
        scheduleRotation(undefined);
        return keys;
      }
      if (!isReady) return runtime.get().keys;
      const current = runtime.get();
      const keys = await loadKeyRing(keyOptions(next, store, log));
      scheduleRotation(next.key_rotation);
      // Unchanged keys: hand back the very same ring, so verified-token caches stay valid.
      return current.keys !== PENDING_KEYS && sameKeys(current.keys, keys) ? current.keys : keys;
    },
    stop() {
      stopped = true;
      clearTimeout(retryTimer);
      clearTimeout(rotationTimer);
    },
  };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
