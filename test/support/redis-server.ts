import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway redis-server for tests: its own port on 127.0.0.1, its own temp dir, a child
 * of the test process. The machine's own Redis (6379) is never touched.
 */
export interface TestRedisServer {
  port: number;
  url: string;
  /** pid of the current redis-server process (changes after restart()). */
  readonly pid: number;
  dir: string;
  /** Graceful shutdown (SIGTERM, SIGKILL after 3 s) and removal of the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL: simulates a crash. The dir is kept so restart() can reload an append-only file. */
  kill(): Promise<void>;
  /** Start again on the same port and dir (after kill()). */
  restart(): Promise<void>;
}

export interface TestRedisServerOptions {
  /** AOF with fsync on every write, so data survives kill() + restart(). */
  appendonly?: boolean;
}

/** The part of a tap Test this module needs; structural so it does not depend on tap's types. */
interface TeardownRegistry {
  teardown(fn: () => unknown): void;
}

const REDIS_BINARY = '/usr/bin/redis-server';
const STARTUP_TIMEOUT_MS = 5_000;
const STOP_GRACE_MS = 3_000;
const MACHINE_REDIS_PORT = 6379;

/** Starts a server and stops it when the test ends, pass or fail. */
export async function startRedisServerFor(t: TeardownRegistry, options: TestRedisServerOptions = {}): Promise<TestRedisServer> {
  const server = await startRedisServer(options);
  t.teardown(() => server.stop());
  return server;
}

export async function startRedisServer(options: TestRedisServerOptions = {}): Promise<TestRedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-redis-'));
  // The free port is found by binding port 0 and releasing it, so another process could take it
  // before redis-server binds: try a few ports before giving up.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await findFreePort();
    try {
      const child = await spawnRedis(port, dir, options);
      return makeHandle(port, dir, options, child);
    } catch (err) {
      lastError = err;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

function makeHandle(port: number, dir: string, options: TestRedisServerOptions, first: ChildProcess): TestRedisServer {
  let child: ChildProcess | undefined = first;
  let stopped = false;
  // If the test process exits without teardown (uncaught error), don't leave redis-server behind.
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    get pid(): number {
      return child?.pid ?? -1;
    },
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child) await terminate(child, 'SIGTERM');
      child = undefined;
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
    async kill() {
      if (child) await terminate(child, 'SIGKILL');
      child = undefined;
    },
    async restart() {
      if (stopped) throw new Error('test redis-server was stopped; it cannot restart');
      if (child) await terminate(child, 'SIGTERM');
      child = await spawnRedis(port, dir, options);
    },
  };
}

async function spawnRedis(port: number, dir: string, options: TestRedisServerOptions): Promise<ChildProcess> {
  if (port === MACHINE_REDIS_PORT) throw new Error('refusing to start a test redis-server on 6379');
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--daemonize', 'no',
    '--save', '',
    '--logfile', '',
    ...(options.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
  ];
  const child = spawn(REDIS_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer): void => {
    // Only the start matters for diagnosing a failed start; don't grow forever.
    if (output.length < 8_192) output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`redis-server exited during startup (code ${code}, signal ${signal}):\n${output}`)));
    child.once('error', reject);
  });
  try {
    await Promise.race([waitForPong(port, STARTUP_TIMEOUT_MS), exited]);
  } catch (err) {
    await terminate(child, 'SIGKILL');
    throw err;
  }
  exited.catch(() => undefined); // later exits are expected (kill/stop) and handled there
  return child;
}

async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const forceKill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exit;
  clearTimeout(forceKill);
}

async function findFreePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(0, '127.0.0.1', () => {
        const address = probe.address();
        const found = typeof address === 'object' && address ? address.port : 0;
        probe.close(() => resolve(found));
      });
    });
    if (port !== MACHINE_REDIS_PORT && port !== 0) return port;
  }
}

/** Raw RESP PING so the harness does not depend on the client library under test. */
async function waitForPong(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pingOnce(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      // "-LOADING" while an append-only file is replayed: not ready yet.
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}
