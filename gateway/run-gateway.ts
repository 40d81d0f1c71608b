import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfigFile } from '../config/loader.js';
import type { GatewayConfig } from '../config/types.js';
import { createAuditLog, noAudit } from './audit-log.js';
import { createLogger } from './logger.js';
import { startGateway } from './server.js';
import { createStore } from './store/create-store.js';

/**
 * Runs the gateway from a config file as a long-lived service: one process, or with
 * `server.workers` > 1 a node:cluster primary whose workers share the port. Signals:
 * SIGTERM/SIGINT drain and exit 0; SIGHUP re-reads the file and keeps the old config if the new
 * one is invalid.
 */
export async function runGateway(configPath: string, config: GatewayConfig, env: NodeJS.ProcessEnv): Promise<void> {
  const workers = config.server.workers === 'auto' ? availableParallelism() : config.server.workers;
  if (workers > 1 && cluster.isPrimary) {
    runPrimary(config, workers);
    return;
  }
  await runWorker(configPath, config, env);
}

function runPrimary(config: GatewayConfig, workers: number): void {
  const log = createLogger(config.logging);
  let stopping = false;
  log.info({ workers }, 'starting worker processes');
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        log.info({}, 'all workers stopped');
        log.flush();
        process.exit(0);
      }
      return;
    }
    log.error({ pid: worker.process.pid, code, signal }, 'worker died; starting a new one');
    cluster.fork();
  });
  const broadcast = (signal: NodeJS.Signals) => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    broadcast('SIGTERM');
    log.info({ signal }, 'stopping workers');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => broadcast('SIGHUP'));
}

async function runWorker(configPath: string, config: GatewayConfig, env: NodeJS.ProcessEnv): Promise<void> {
  const log = createLogger(config.logging);
  const audit = config.audit.enabled ? createAuditLog(config.audit.destination) : noAudit;
  const store = createStore(config.store, log);
  const gateway = await startGateway({ config, store, log, audit });

  process.on('SIGHUP', () => {
    let next: GatewayConfig;
    try {
      next = loadConfigFile(configPath, env);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [String(err)];
      log.error({ problems }, 'reload refused: the new configuration is invalid; keeping the running one');
      return;
    }
    gateway.reload(next).catch((err: unknown) => log.error({ err: String(err) }, 'reload failed; keeping the running configuration'));
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, grace_seconds: config.server.shutdown_grace }, 'draining: no new connections, finishing requests in flight');
    gateway
      .close()
      .then(() => {
        log.info({}, 'stopped');
        audit.flush();
        log.flush();
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error({ err: String(err) }, 'shutdown failed');
        log.flush();
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
