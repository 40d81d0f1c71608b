/**
 * Delivers AuditEvents to a FHIR server without ever slowing a request down.
 *
 *   enqueue(event)          request path: synchronous, never throws, never waits
 *     -> staging buffer     events of one tick are appended to the store together
 *     -> store queue        bounded FIFO shared by every instance (QueueOperations, claim/ack leases)
 *     -> batch Bundle POST  every flush interval, or at once when a full batch waits
 *
 * A failed delivery releases the claimed events back to the head of the queue and backs off
 * (doubling up to a cap) while the endpoint stays down; when it answers again everything queued
 * goes out, in order. Nothing is lost within the bounds: the queue's (oldest dropped, counted) and
 * the staging buffer's (the same size, for while the store itself is unreachable). Delivery is
 * at-least-once: an instance that dies mid-send leaves its claim to expire and be sent again.
 *
 * Per-entry answers of the batch-response decide each event: 2xx delivered; 408, 429 and 5xx
 * queued again; any other 4xx means the server will never take that event (dropped, counted as
 * `rejected`). A whole batch refused with 413 halves the batch size for the following sends.
 */
import type { AuditEvent, Bundle, BundleEntry } from '@medplum/fhirtypes';
import { fetch, type Dispatcher, type Response } from 'undici';
import type { QueueOperations } from '../../../authz/store.js';

/** Where the counts go (gateway/process/audit/audit-metrics.ts makes Prometheus counters of them). */
export interface AuditSenderHooks {
  /** AuditEvents the endpoint accepted. */
  sent(count: number): void;
  /**
   * AuditEvents a step failed for; they are kept and tried again. `endpoint`: a delivery attempt
   * failed; `store`: the queue could not be reached (enqueue, claim or ack).
   */
  failed(count: number, reason: 'endpoint' | 'store'): void;
  /**
   * AuditEvents given up. `queue_full`: the oldest, pushed out by the queue bound; `buffer_full`:
   * the oldest in the staging buffer while the store was unreachable; `rejected`: the endpoint
   * refused the event itself (4xx for its entry); `unreadable`: a queue item that is not JSON;
   * `stopped`: enqueued after stop().
   */
  dropped(count: number, reason: 'queue_full' | 'buffer_full' | 'rejected' | 'unreadable' | 'stopped'): void;
  /** Items waiting in the store queue, as last seen. */
  queueLength?(length: number): void;
}

export interface AuditSenderLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AuditEventSenderOptions {
  store: QueueOperations;
  /** audit.fhir.url: the FHIR base the batch Bundles are POSTed to. */
  url: string;
  /** audit.fhir.batch_size. */
  batchSize: number;
  /** audit.fhir.flush_interval, in ms. */
  flushIntervalMs: number;
  /** audit.fhir.queue_limit: the store queue's bound, and the staging buffer's. */
  queueLimit: number;
  /**
   * Headers that authenticate the gateway to the endpoint, asked for before every send (a token
   * source can cache and refresh). Default: none. Never logged.
   */
  authorize?: () => Promise<Readonly<Record<string, string>>>;
  /**
   * For credentials that can change (a token): the endpoint answered 401 to a batch sent with
   * `rejected` (what authorize() gave), so the source drops that token, and the batch is sent
   * once more at once with a new one (a token that expired or was revoked is no outage).
   */
  refused?: (rejected: Readonly<Record<string, string>>) => void;
  /** The HTTP client (TLS settings, connection pool); default undici's global one. */
  dispatcher?: Dispatcher;
  hooks?: AuditSenderHooks;
  log: AuditSenderLog;
  /** Store queue name; instances sharing a store (and key prefix) share the queue. */
  queueName?: string;
  /** Longest wait for authorize() plus the endpoint's answer. Default 10 s. */
  requestTimeoutMs?: number;
  /** Delay after the first failed delivery, doubled per further failure up to maxMs. Default 1 s .. 60 s. */
  backoff?: { initialMs: number; maxMs: number };
  /** Delay before the staging buffer tries the store again after a failure. Default 1 s. */
  storeRetryMs?: number;
}

export const DEFAULT_AUDIT_QUEUE = 'audit-events';
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_BACKOFF = { initialMs: 1_000, maxMs: 60_000 };
const DEFAULT_STORE_RETRY_MS = 1_000;

const noHooks: AuditSenderHooks = { sent() {}, failed() {}, dropped() {} };

type Delivery =
  | { ok: true; delivered: number; retry: string[]; rejected: { status: number; code?: string }[] }
  | { ok: false; reason: string; status?: number };

export class AuditEventSender {
  private readonly store: QueueOperations;
  private readonly queue: string;
  private readonly endpoint: string;
  private readonly hooks: AuditSenderHooks;
  private readonly requestTimeoutMs: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly storeRetryMs: number;
  /** Seconds a claim is leased: well beyond the longest send, so a live sender is never overtaken. */
  private readonly leaseSeconds: number;

  /** Serialized events not yet in the store, oldest first. */
  private staging: string[] = [];
  private stagingScheduled = false;
  private staged: Promise<void> | undefined;
  private stagingRetry: NodeJS.Timeout | undefined;

  private drainRun: Promise<void> | undefined;
  private drainRequested = false;
  private batchSize: number;
  private flushTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private nextAttemptAt = 0;
  private endpointDown = false;
  private readonly inFlight = new AbortController();
  private started = false;
  private stopped = false;

  constructor(private readonly options: AuditEventSenderOptions) {
    for (const [name, value] of [['batchSize', options.batchSize], ['queueLimit', options.queueLimit], ['flushIntervalMs', options.flushIntervalMs]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
    }
    this.store = options.store;
    this.queue = options.queueName ?? DEFAULT_AUDIT_QUEUE;
    this.endpoint = options.url.replace(/\/+$/, '');
    this.hooks = options.hooks ?? noHooks;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.storeRetryMs = options.storeRetryMs ?? DEFAULT_STORE_RETRY_MS;
    this.leaseSeconds = Math.ceil((2 * this.requestTimeoutMs) / 1000) + 5;
    this.batchSize = options.batchSize;
  }

  /** Starts the flush timer. Events enqueued before start() wait in the store until then. */
  start(): void {
    if (this.stopped || this.started) return;
    this.started = true;
    this.flushTimer = setInterval(() => void this.drain(), this.options.flushIntervalMs);
    // The timer must never be what keeps the process alive.
    this.flushTimer.unref();
    void this.drain();
  }

  /** Request path: records the event for delivery. Synchronous, never throws. */
  enqueue(event: AuditEvent): void {
    if (this.stopped) {
      this.hooks.dropped(1, 'stopped');
      return;
    }
    let serialized: string;
    try {
      serialized = JSON.stringify(event);
    } catch {
      this.hooks.dropped(1, 'unreadable');
      return;
    }
    this.staging.push(serialized);
    this.trimStaging();
    if (!this.stagingScheduled && this.stagingRetry === undefined) {
      this.stagingScheduled = true;
      // Every event of this tick goes to the store in one append.
      setImmediate(() => {
        this.stagingScheduled = false;
        void this.stage();
      });
    }
  }

  /** Sends what is queued now (outside the timer): the staging buffer, then full batches and the remainder. */
  async flush(): Promise<void> {
    await this.stage();
    await this.drain({ ignoreBackoff: true });
  }

  /**
   * Stops the timer and sends what it can within `withinMs`: the staging buffer goes to the store,
   * then batches go out until the queue is empty, a send fails, or time is up (a send in flight is
   * then aborted and its events released). What is left stays in the store queue (with Redis, for
   * the next start or another instance). Resolves with the number of events left.
   */
  async stop(withinMs = 5_000): Promise<{ remaining: number }> {
    if (this.stopped) return { remaining: await this.remaining() };
    this.stopped = true;
    clearInterval(this.flushTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.stagingRetry);
    this.stagingRetry = undefined;
    const deadline = setTimeout(() => this.inFlight.abort(new Error('stopping: the time to flush is up')), withinMs);
    deadline.unref();
    try {
      await this.stage();
      await this.drainRun;
      if (!this.inFlight.signal.aborted) await this.drain({ ignoreBackoff: true, untilAborted: true });
    } finally {
      clearTimeout(deadline);
    }
    const remaining = await this.remaining();
    if (remaining > 0) this.options.log.warn({ queued: remaining }, 'AuditEvents still queued at stop; they stay in the store for the next sender');
    return { remaining };
  }

  private async remaining(): Promise<number> {
    const length = await this.store.queueLength(this.queue).catch(() => 0);
    return length + this.staging.length;
  }

  private trimStaging(): void {
    const over = this.staging.length - this.options.queueLimit;
    if (over > 0) {
      this.staging.splice(0, over);
      this.hooks.dropped(over, 'buffer_full');
    }
  }

  /** Moves the staging buffer into the store queue; on failure keeps it and tries again later. */
  private stage(): Promise<void> {
    if (this.staged) return this.staged.then(() => (this.staging.length > 0 ? this.stage() : undefined));
    if (this.staging.length === 0) return Promise.resolve();
    const items = this.staging;
    this.staging = [];
    this.staged = (async () => {
      try {
        const { length, dropped } = await this.store.queueAppend(this.queue, items, this.options.queueLimit);
        if (dropped > 0) this.hooks.dropped(dropped, 'queue_full');
        this.hooks.queueLength?.(length);
        if (length >= this.batchSize && this.started && !this.stopped) void this.drain();
      } catch {
        // The store is unreachable (it logs that itself): keep the events and try again.
        this.hooks.failed(items.length, 'store');
        this.keepForLater(items);
      } finally {
        this.staged = undefined;
      }
    })();
    return this.staged;
  }

  /** Puts events back in front of the staging buffer (they are older) and schedules another append. */
  private keepForLater(items: string[]): void {
    this.staging = [...items, ...this.staging];
    this.trimStaging();
    if (!this.stopped && this.stagingRetry === undefined) {
      this.stagingRetry = setTimeout(() => {
        this.stagingRetry = undefined;
        void this.stage();
      }, this.storeRetryMs);
      this.stagingRetry.unref();
    }
  }

  /** One drain at a time; a request during a drain runs another right after it. */
  private drain(mode: { ignoreBackoff?: boolean; untilAborted?: boolean } = {}): Promise<void> {
    if (this.drainRun) {
      this.drainRequested = true;
      return this.drainRun;
    }
    this.drainRun = this.drainLoop(mode).finally(() => {
      this.drainRun = undefined;
      if (this.drainRequested && this.started && !this.stopped) {
        this.drainRequested = false;
        void this.drain();
      }
    });
    return this.drainRun;
  }

  private async drainLoop(mode: { ignoreBackoff?: boolean; untilAborted?: boolean }): Promise<void> {
    if (!mode.ignoreBackoff && Date.now() < this.nextAttemptAt) return;
    for (;;) {
      if (this.inFlight.signal.aborted) return;
      if (this.stopped && !mode.untilAborted) return;
      let claim;
      try {
        claim = await this.store.queueClaim(this.queue, this.batchSize, this.leaseSeconds);
      } catch {
        // The store is unreachable (it logs that itself); the next tick tries again.
        return;
      }
      if (claim === null) return;
      const delivery = await this.deliver(claim.items);
      if (!delivery.ok) {
        await this.store.queueRelease(this.queue, claim.id).catch(() => this.hooks.failed(claim.items.length, 'store'));
        this.hooks.failed(claim.items.length, 'endpoint');
        this.deliveryFailed(delivery, claim.items.length);
        return;
      }
      this.deliverySucceeded();
      await this.store.queueAck(this.queue, claim.id).catch(() => this.hooks.failed(claim.items.length, 'store'));
      this.hooks.sent(delivery.delivered);
      if (delivery.rejected.length > 0) {
        this.hooks.dropped(delivery.rejected.length, 'rejected');
        // The status and issue code only: an OperationOutcome's text may quote the event.
        this.options.log.warn({ rejected: delivery.rejected.length, statuses: delivery.rejected }, 'the AuditEvent endpoint refused AuditEvents; they are dropped');
      }
      if (delivery.retry.length > 0) {
        this.hooks.failed(delivery.retry.length, 'endpoint');
        await this.store.queueAppend(this.queue, delivery.retry, this.options.queueLimit).then(
          ({ dropped }) => dropped > 0 && this.hooks.dropped(dropped, 'queue_full'),
          // The store went away between ack and append: keep them in the staging buffer.
          () => this.keepForLater(delivery.retry),
        );
      }
      // A partial batch means the queue is empty (for now): the timer picks up what comes next.
      if (claim.items.length < this.batchSize) return;
    }
  }

  private deliveryFailed(delivery: { reason: string; status?: number }, count: number): void {
    if (delivery.status === 413 && this.batchSize > 1) {
      this.batchSize = Math.max(1, Math.floor(this.batchSize / 2));
      this.options.log.warn({ batch_size: this.batchSize }, 'the AuditEvent endpoint refused a batch as too large; sending smaller batches');
    }
    this.failures += 1;
    const delay = Math.min(this.backoff.initialMs * 2 ** (this.failures - 1), this.backoff.maxMs);
    this.nextAttemptAt = Date.now() + delay;
    if (!this.endpointDown) {
      this.endpointDown = true;
      const context = { endpoint: redactedOrigin(this.endpoint), reason: delivery.reason, ...(delivery.status ? { status: delivery.status } : {}), events: count };
      if (refusesForGood(delivery.status)) {
        // Not an outage: the server will refuse every batch until the configuration changes.
        // Retrying is still right (nothing is dropped that the bound keeps), but say so loudly, once.
        this.options.log.error(
          context,
          `the AuditEvent endpoint refuses every batch (HTTP ${delivery.status}): check audit.fhir.url and audit.fhir.auth; AuditEvents stay queued and are retried with backoff, the oldest dropped beyond audit.fhir.queue_limit`,
        );
      } else {
        this.options.log.warn(context, 'AuditEvent endpoint unavailable; AuditEvents stay queued and are sent when it is back');
      }
    }
    if (this.started && !this.stopped) {
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => void this.drain(), delay);
      this.retryTimer.unref();
    }
  }

  private deliverySucceeded(): void {
    this.failures = 0;
    this.nextAttemptAt = 0;
    if (this.endpointDown) {
      this.endpointDown = false;
      this.options.log.info({ endpoint: redactedOrigin(this.endpoint) }, 'AuditEvent endpoint available again');
    }
  }

  /** One batch Bundle POST; never throws. */
  private async deliver(items: string[]): Promise<Delivery> {
    const entries: BundleEntry[] = [];
    const sentItems: string[] = [];
    for (const item of items) {
      try {
        entries.push({ resource: JSON.parse(item) as AuditEvent, request: { method: 'POST', url: 'AuditEvent' } });
        sentItems.push(item);
      } catch {
        this.hooks.dropped(1, 'unreadable');
      }
    }
    if (entries.length === 0) return { ok: true, delivered: 0, retry: [], rejected: [] };
    const bundle: Bundle = { resourceType: 'Bundle', type: 'batch', entry: entries };

    const signal = AbortSignal.any([this.inFlight.signal, AbortSignal.timeout(this.requestTimeoutMs)]);
    const payload = JSON.stringify(bundle);
    let response: Response;
    try {
      let sent = await this.post(payload, signal);
      if (sent.response.status === 401 && this.options.refused !== undefined) {
        await sent.response.arrayBuffer().catch(() => undefined);
        this.options.refused(sent.credentials);
        sent = await this.post(payload, signal);
        if (sent.response.status === 401) this.options.refused(sent.credentials);
      }
      response = sent.response;
    } catch (err) {
      return { ok: false, reason: describeFailure(err, signal) };
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
    if (response.status < 200 || response.status >= 300) {
      const why = response.status === 401 || response.status === 403 ? 'credentials refused' : 'refused the batch';
      return { ok: false, reason: why, status: response.status };
    }
    return batchOutcome(body, sentItems, this.options.log);
  }

  /** One POST of a batch Bundle with the credentials of the moment. */
  private async post(payload: string, signal: AbortSignal): Promise<{ response: Response; credentials: Readonly<Record<string, string>> }> {
    const credentials = await abortable(this.options.authorize?.() ?? Promise.resolve({}), signal);
    const response = await fetch(this.endpoint, {
      method: 'POST',
      headers: { ...credentials, 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
      body: payload,
      // An audit endpoint has no business redirecting; following could carry the credentials elsewhere.
      redirect: 'manual',
      signal,
      ...(this.options.dispatcher !== undefined ? { dispatcher: this.options.dispatcher } : {}),
    });
    return { response, credentials };
  }
}

/** Reads a batch-response: which entries the server took, which to send again, which it refuses for good. */
function batchOutcome(body: unknown, items: string[], log: AuditSenderLog): Delivery {
  const entries = (body as Bundle | undefined)?.entry;
  if ((body as Bundle | undefined)?.resourceType !== 'Bundle' || !Array.isArray(entries) || entries.length !== items.length) {
    // The server said 2xx to the whole batch; sending it again would duplicate what it stored.
    log.warn({ events: items.length }, 'the AuditEvent endpoint answered 2xx without a matching batch-response; counting the batch as delivered');
    return { ok: true, delivered: items.length, retry: [], rejected: [] };
  }
  let delivered = 0;
  const retry: string[] = [];
  const rejected: { status: number; code?: string }[] = [];
  entries.forEach((entry, index) => {
    // "201 Created" or "201": the status code comes first (R4 Bundle.entry.response.status).
    const status = Number.parseInt(entry.response?.status ?? '', 10);
    if (status >= 200 && status < 300) delivered += 1;
    else if (!Number.isFinite(status) || status === 408 || status === 429 || status >= 500) retry.push(items[index]!);
    else {
      const code = (entry.response?.outcome as { issue?: { code?: string }[] } | undefined)?.issue?.[0]?.code;
      rejected.push({ status, ...(code ? { code } : {}) });
    }
  });
  return { ok: true, delivered, retry, rejected };
}

/**
 * A whole batch refused with a 4xx that waiting will not cure: a wrong URL (404, 405), a server
 * that takes no batch Bundles (400, 415, 422), credentials it does not accept (401, 403). 408
 * and 429 are passing; 413 shrinks the batch.
 */
function refusesForGood(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 413 && status !== 429;
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** A short reason for the log: the error code, never a header or a body. */
function describeFailure(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return (signal.reason as Error | undefined)?.name === 'TimeoutError' ? 'timeout' : 'aborted';
  const cause = (err as { cause?: { code?: string } } | undefined)?.cause;
  if (cause?.code) return cause.code;
  return err instanceof Error ? err.name : 'error';
}

/** scheme://host:port of the endpoint, without any credentials or path, for the log. */
function redactedOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(unparseable URL)';
  }
}
