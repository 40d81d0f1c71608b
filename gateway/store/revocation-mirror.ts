import type { Redis } from 'ioredis';
import type { RedisKeys } from './redis-keys.js';

/** Local revocations held at most; beyond it the mirror stops answering and Redis is asked instead. */
const DEFAULT_CAPACITY = 200_000;
const SWEEP_INTERVAL_MS = 10_000;
/**
 * How often the subscribed connection is asked to answer a PING. A connection that dies without
 * a word (a silent network partition) would otherwise go on being trusted while it hears
 * nothing; one unanswered PING (the command timeout is 1 s) is enough to stop trusting it.
 */
const LIVENESS_INTERVAL_MS = 1_000;
const SCAN_BATCH = 500;

export type MirrorAnswer = 'revoked' | 'not-revoked' | 'unknown';

export interface RevocationMirrorOptions {
  capacity?: number;
  now?: () => number;
  /** Told when the mirror stops or starts answering (for the log). */
  onChange?: (answering: boolean, reason: string) => void;
}

/**
 * Every gateway instance's copy of the revocation list, so that checking a token costs no store
 * round trip. Each revocation is a key in Redis (the truth, with the token's remaining lifetime
 * as its TTL) and a message on a pub/sub channel, written together by one script; every
 * instance subscribes, and on every (re)subscription reads all revocation keys again before it
 * answers, so a message missed while disconnected is never missed for good.
 *
 * The mirror answers only while it is known to be complete: subscribed and loaded. Otherwise
 * (starting, disconnected, or more revocations than `capacity`) `answer` says 'unknown' and the
 * caller asks Redis or fails closed: a revoked token never passes for want of a copy.
 *
 * A revocation made at another instance reaches this one within the pub/sub delivery time
 * (sub-millisecond on one network); one made here is in the mirror before `revoke` returns. A
 * subscription that breaks without a word is found out by a PING within about 2 s; until the
 * list has been read again, Redis is asked.
 */
export class RevocationMirror {
  /** jti -> expiry, epoch ms. */
  private readonly revoked = new Map<string, number>();
  private readonly capacity: number;
  private readonly now: () => number;
  private subscribed = false;
  private loaded = false;
  private overflowed = false;
  private loading: Promise<void> | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private liveness: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: Redis,
    private readonly subscriber: Redis,
    private readonly keys: RedisKeys,
    private readonly options: RevocationMirrorOptions = {},
  ) {
    this.capacity = options.capacity ?? DEFAULT_CAPACITY;
    this.now = options.now ?? Date.now;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === keys.revocationChannel) this.receive(message);
    });
    // ioredis resubscribes by itself after a reconnect; what was published meanwhile is read back
    // (once both connections are back: the list is read on the command connection).
    const reloadIfStale = () => {
      if (this.subscribed && !this.loaded && this.subscriber.status === 'ready' && this.client.status === 'ready') void this.reload().catch(() => undefined);
    };
    subscriber.on('ready', reloadIfStale);
    client.on('ready', reloadIfStale);
    subscriber.on('close', () => {
      this.loaded = false;
      this.report('revocation channel disconnected');
    });
  }

  /** Subscribes and loads every revocation; rejects when Redis cannot be reached. */
  async start(): Promise<void> {
    if (this.subscriber.status !== 'ready') await this.subscriber.connect();
    await this.subscriber.subscribe(this.keys.revocationChannel);
    this.subscribed = true;
    await this.reload();
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
      this.sweeper.unref();
    }
    if (!this.liveness) {
      this.liveness = setInterval(() => this.probe(), LIVENESS_INTERVAL_MS);
      this.liveness.unref();
    }
  }

  stop(): void {
    clearInterval(this.sweeper);
    clearInterval(this.liveness);
    this.sweeper = undefined;
    this.liveness = undefined;
    this.subscribed = false;
    this.loaded = false;
    this.report('stopped');
  }

  /** Whether `jti` is revoked, from the local copy, or 'unknown' when the copy cannot be trusted. */
  answer(jti: string): MirrorAnswer {
    if (!this.loaded || this.overflowed) return 'unknown';
    const expires = this.revoked.get(jti);
    if (expires === undefined) return 'not-revoked';
    if (expires > this.now()) return 'revoked';
    this.revoked.delete(jti);
    return 'not-revoked';
  }

  /** Records a revocation made by this instance (it is also on its way to the others). */
  note(jti: string, expiresAtMs: number): void {
    this.add(jti, expiresAtMs);
  }

  private receive(message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (Array.isArray(parsed) && typeof parsed[0] === 'string' && typeof parsed[1] === 'number') this.add(parsed[0], parsed[1]);
  }

  private add(jti: string, expiresAtMs: number): void {
    if (expiresAtMs <= this.now()) return;
    if (!this.revoked.has(jti) && this.revoked.size >= this.capacity) {
      // Not room for one more: stop answering rather than forget one. Redis stays the truth.
      this.overflowed = true;
      this.report(`more than ${this.capacity} revocations: checking Redis on every request until the list shrinks`);
      return;
    }
    this.revoked.set(jti, expiresAtMs);
  }

  /** Reads every revocation key (their values are their expiry times) into a fresh copy. */
  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        this.loaded = false;
        const fresh = new Map<string, number>();
        let overflow = false;
        const prefix = this.keys.revoked('');
        for (const node of scanTargets(this.client)) {
          let cursor = '0';
          do {
            const [next, found] = await node.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', SCAN_BATCH);
            cursor = next;
            if (found.length === 0) continue;
            const values = await this.client.mget(...found);
            found.forEach((key, i) => {
              const expires = Number(values[i]);
              if (Number.isFinite(expires) && expires > this.now()) fresh.set(key.slice(prefix.length), expires);
            });
            if (fresh.size > this.capacity) overflow = true;
          } while (cursor !== '0' && !overflow);
        }
        // What arrived while loading stays: the copy is the union of both.
        for (const [jti, expires] of fresh) this.revoked.set(jti, expires);
        this.overflowed = overflow || this.revoked.size > this.capacity;
        this.loaded = true;
        this.report(this.overflowed ? `more than ${this.capacity} revocations: checking Redis on every request` : 'revocations loaded');
      } catch (err) {
        this.report(`revocations could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
        throw err;
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /** A subscription that does not answer is not trusted; reconnecting it reloads the list. */
  private probe(): void {
    if (!this.subscribed || !this.loaded || this.subscriber.status !== 'ready') return;
    this.subscriber.ping().catch(() => {
      if (!this.subscribed) return;
      this.loaded = false;
      this.report('revocation channel not answering');
      this.subscriber.disconnect(true);
    });
  }

  private sweep(): void {
    const now = this.now();
    for (const [jti, expires] of this.revoked) if (expires <= now) this.revoked.delete(jti);
    // Back under half the capacity: a fresh load may make the copy complete again.
    if (this.overflowed && this.subscribed && this.revoked.size < this.capacity / 2) void this.reload().catch(() => undefined);
  }

  private answering = false;
  /** Tells onChange when the copy starts or stops being trusted. */
  private report(reason: string): void {
    const answering = this.loaded && !this.overflowed;
    if (answering === this.answering) return;
    this.answering = answering;
    this.options.onChange?.(answering, reason);
  }
}

/** The nodes to SCAN: every master of a Cluster (keys live on one of them), or the one server. */
function scanTargets(client: Redis): Redis[] {
  const cluster = client as unknown as { isCluster?: boolean; nodes?: (role: 'master') => Redis[] };
  return cluster.isCluster && cluster.nodes ? cluster.nodes('master') : [client];
}

/** Redis glob metacharacters in the prefix are matched literally. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
