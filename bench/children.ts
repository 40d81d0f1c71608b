/** Parent side of the bench protocol (see servers/child-protocol.ts). */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ServerChild {
  name: string;
  url: string;
  proc: ChildProcess;
  request<T = unknown>(type: string, body?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/** The repository root, from dist/bench/children.js (the bench runs compiled). */
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Spawns `node --expose-gc dist/bench/servers/<script>.js ...args` (compiled, as production runs) and waits for its ready line. */
export async function startChild(name: string, script: string, args: string[] = [], readyTimeoutMs = 30_000): Promise<ServerChild> {
  const extra = process.env.BENCH_CHILD_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const proc = spawn(process.execPath, ['--expose-gc', ...extra, `dist/bench/servers/${script}.js`, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  let nextId = 1;
  proc.on('message', (raw: unknown) => {
    const msg = raw as { id: number; ok: boolean; result?: unknown; error?: string };
    const waiter = pending.get(msg.id);
    if (!waiter) return;
    pending.delete(msg.id);
    clearTimeout(waiter.timer);
    if (msg.ok) waiter.resolve(msg.result);
    else waiter.reject(new Error(`${name}: ${msg.error}`));
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  void exited.then((code) => {
    for (const [, w] of pending) {
      clearTimeout(w.timer);
      w.reject(new Error(`${name} exited (code ${code})`));
    }
    pending.clear();
  });

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${name}: not ready after ${readyTimeoutMs} ms`));
    }, readyTimeoutMs);
    const lines = createInterface({ input: proc.stdout! });
    lines.on('line', (line) => {
      if (!line.startsWith('{"ready"')) {
        process.stderr.write(`[${name}] ${line}\n`);
        return;
      }
      clearTimeout(timer);
      resolve((JSON.parse(line) as { url: string }).url);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready (code ${code})`));
    });
  });

  return {
    name,
    url,
    proc,
    request<T>(type: string, body: Record<string, unknown> = {}, timeoutMs = 60_000) {
      return new Promise<T>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name}: no answer to ${type} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
        proc.send({ id, type, ...body });
      });
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const kill = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      proc.disconnect();
      await exited;
      clearTimeout(kill);
    },
  };
}
