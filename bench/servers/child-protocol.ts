/**
 * Child side of the bench protocol. A server under test runs in its own process so it does not
 * share an event loop with the load generator:
 *  - when it listens it prints ONE JSON line `{"ready":true,"url":"http://127.0.0.1:port"}` on stdout;
 *  - over the IPC channel it answers `{id, type}` requests with `{id, ok, result | error}`.
 *    Every child answers `rss` (memory after a forced GC when --expose-gc is on); others add more.
 *  - it exits when the parent goes away (IPC disconnect), so no server outlives the bench.
 */

export type Handler = (request: Record<string, unknown>) => unknown | Promise<unknown>;

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
  /** Whether global.gc() ran right before the sample. */
  gc: boolean;
}

export function memorySample(): MemorySample {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, gc: !!gc };
}

export function serveChild(url: string, handlers: Record<string, Handler> = {}, onExit?: () => Promise<void>): void {
  const all: Record<string, Handler> = {
    rss: () => memorySample(),
    cpu: () => process.cpuUsage(),
    ...handlers,
  };
  let exiting = false;
  const exit = () => {
    if (exiting) return;
    exiting = true;
    const hard = setTimeout(() => process.exit(0), 3000);
    hard.unref();
    Promise.resolve(onExit?.())
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.on('disconnect', exit);
  process.on('SIGTERM', exit);
  process.on('message', (raw: unknown) => {
    const msg = raw as { id?: number; type?: string } & Record<string, unknown>;
    if (typeof msg?.id !== 'number' || typeof msg.type !== 'string') return;
    const handler = all[msg.type];
    const reply = (body: Record<string, unknown>) => process.send?.({ id: msg.id, ...body });
    if (!handler) {
      reply({ ok: false, error: `unknown request ${msg.type}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(msg))
      .then(
        (result) => reply({ ok: true, result }),
        (err: unknown) => reply({ ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  });
  process.stdout.write(JSON.stringify({ ready: true, url }) + '\n');
}

/** `--name value` from argv, or the fallback. */
export function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : undefined;
  if (value === undefined) {
    if (fallback === undefined) throw new Error(`missing --${name}`);
    return fallback;
  }
  return value;
}
