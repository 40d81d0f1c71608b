import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = new URL('../../bin/fhir-gateway.js', import.meta.url).pathname;
const KILL_AFTER_MS = 60_000;

/**
 * The gateway as an operator runs it: `node bin/fhir-gateway.js --config FILE`, a child of the
 * test process. The config is written from a raw object (JSON is YAML).
 *
 * Logs: the gateway writes JSON lines to stdout in batches, none held back longer than a quarter
 * second (gateway/process/log-destination.ts), and everything is flushed on shutdown.
 */
export interface GatewayProcess {
  child: ChildProcess;
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** http://<admin_host or 127.0.0.1>:<admin_port> when server.admin_port is set. */
  adminUrl: string | undefined;
  configFile: string;
  /** Every stdout line that parsed as JSON, in order. */
  logs: Record<string, unknown>[];
  stdout(): string;
  stderr(): string;
  /** Resolves when the process exits, with its code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
  /** Rewrites the config file (for SIGHUP reloads). */
  writeConfig(raw: Record<string, unknown> | string): void;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

interface TeardownRegistry {
  teardown(fn: () => unknown): void;
}

export interface GatewayProcessOptions {
  /** Raw config as an operator writes it; server.port must be a fixed free port. */
  config: Record<string, any>;
  env?: NodeJS.ProcessEnv;
  /** Arguments for node itself, before the CLI (e.g. `--import` a module that breaks something on purpose). */
  nodeArgs?: string[];
  /** Wait for /healthz to answer 200 (default true), on the admin port when server.admin_port is set. */
  waitHealthy?: boolean;
  healthTimeoutMs?: number;
}

export async function startGatewayProcess(t: TeardownRegistry, options: GatewayProcessOptions): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'fhirgw-proc-'));
  const configFile = join(dir, 'gateway.yaml');
  const port = options.config.server.port as number;
  if (!port) throw new Error('startGatewayProcess needs a fixed server.port (use freePort())');
  const adminPort = options.config.server.admin_port as number | undefined;
  if (adminPort === 0) throw new Error('startGatewayProcess needs a fixed server.admin_port (use freePort())');
  const adminHost = (options.config.server.admin_host as string | undefined) ?? '127.0.0.1';
  const adminUrl = adminPort === undefined ? undefined : `http://${adminHost.includes(':') ? `[${adminHost}]` : adminHost}:${adminPort}`;
  const writeConfig = (raw: Record<string, unknown> | string) => writeFileSync(configFile, typeof raw === 'string' ? raw : JSON.stringify(raw, null, 2));
  writeConfig(options.config);

  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, '--config', configFile], {
    env: { PATH: process.env.PATH, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let pending = '';
  const logs: Record<string, unknown>[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
  killer.unref();
  void exited.then(() => clearTimeout(killer));
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const handle: GatewayProcess = {
    child,
    url: `http://127.0.0.1:${port}`,
    port,
    adminUrl,
    configFile,
    logs,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    writeConfig,
    stop(graceMs = 15_000) {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          await exited;
          clearTimeout(timer);
        }
        process.off('exit', killOnExit);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  t.teardown(() => handle.stop());

  if (options.waitHealthy !== false) {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode} before it was healthy:\n${err}\n${out}`);
        const res = await fetch(`${adminUrl ?? handle.url}/healthz`).catch(() => undefined);
        return res?.status === 200;
      },
      options.healthTimeoutMs ?? 30_000,
      `gateway on port ${port} did not answer /healthz`,
    );
  }
  return handle;
}

/** Polls `check` every `intervalMs` until it returns true; throws after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
