import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfigFile } from '../../config/loader.js';
import type { GatewayConfig } from '../../config/types.js';
import { createAuditLog } from './audit-log.js';
import { flushAllLogsSync } from './log-destination.js';
import { answerClusterAdmin, serveClusterAdmin } from './cluster-admin.js';
import { createLogger } from './logger.js';
import { GatewayMetrics } from './metrics.js';
import { startGateway, type Gateway } from '../server.js';
import { createStore } from '../store/create-store.js';

/**
 * Runs the gateway from a config file as a long-lived service: one process, or with
 * `server.workers` > 1 a node:cluster primary whose workers share the port (and which serves
 * server.admin_port for all of them: gateway/process/cluster-admin.ts). Signals:
 * SIGTERM/SIGINT drain and exit 0; SIGHUP re-reads the file and keeps the old config if the new
 * one is invalid.
 */
export async function runGateway(configPath: string, config: GatewayConfig, env: NodeJS.ProcessEnv): Promise<void> {
  const workers = config.server.workers === 'auto' ? availableParallelism() : config.server.workers;
  if (workers > 1 && cluster.isPrimary) {
    await runPrimary(config, workers);
    return;
  }
  await runWorker(configPath, config, env);
}

async function runPrimary(config: GatewayConfig, workers: number): Promise<void> {
  const log = createLogger(config.logging);
  let stopping = false;
  // Before any worker: a taken admin port stops the start here, with nothing to clean up.
  if (config.server.admin_port !== undefined) {
    const admin = await serveClusterAdmin(config.server, log);
    const address = admin.address();
    log.info({ admin: typeof address === 'object' && address !== null ? `${address.address}:${address.port}` : address }, 'admin listener serving the workers’ metrics and readiness');
  }
  log.info({ workers }, 'starting worker processes');
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        log.info({}, 'all workers stopped');
        flushAllLogsSync();
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

/**
 * An error nothing caught is fatal: say so in the log, write out every buffered log and audit
 * line, and exit 1 (the supervisor restarts the process) rather than run on in an unknown state.
 */
function exitOnFatalError(log: { fatal(obj: object, msg: string): void }): void {
  const die = (err: unknown) => {
    log.fatal({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'fatal error: exiting');
    flushAllLogsSync();
    process.exit(1);
  };
  process.on('uncaughtException', die);
  process.on('unhandledRejection', die);
}

async function runWorker(configPath: string, config: GatewayConfig, env: NodeJS.ProcessEnv): Promise<void> {
  const log = createLogger(config.logging);
  const audit = config.audit.enabled ? createAuditLog(config.audit.destination) : undefined;

  // Signals are handled from the start: a SIGTERM while the gateway is still starting (waiting
  // for its store) stops it as cleanly as one later, instead of killing the process outright.
  let gateway: Gateway | undefined;
  let stopping = false;
  let reloadPending = false;
  const finish = (code: number) => {
    flushAllLogsSync();
    process.exit(code);
  };
  exitOnFatalError(log);
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, grace_seconds: config.server.shutdown_grace }, 'draining: no new connections, finishing requests in flight');
    if (!gateway) return; // closed as soon as startGateway hands it over
    gateway
      .close()
      .then(() => {
        log.info({}, 'stopped');
        finish(0);
      })
      .catch((err: unknown) => {
        log.error({ err: String(err) }, 'shutdown failed');
        finish(1);
      });
  };
  const reload = () => {
    if (!gateway) {
      reloadPending = true;
      return;
    }
    let next: GatewayConfig;
    try {
      next = loadConfigFile(configPath, env);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [String(err)];
      log.error({ problems }, 'reload refused: the new configuration is invalid; keeping the running one');
      // Flushed at once: an operator reading the log after SIGHUP must see why.
      flushAllLogsSync();
      return;
    }
    gateway
      .reload(next)
      .then(() => flushAllLogsSync())
      .catch((err: unknown) => {
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'reload failed; keeping the running configuration');
        flushAllLogsSync();
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', reload);

  // With workers the primary serves the admin port: it asks each worker for its metrics and readiness.
  const adminInPrimary = cluster.isWorker && config.server.admin_port !== undefined;
  const metrics = new GatewayMetrics();
  if (adminInPrimary) answerClusterAdmin(metrics, () => gateway?.readiness);
  const store = createStore(config.store, log);
  gateway = await startGateway({ config, store, log, metrics, adminInPrimary, ...(audit ? { audit } : {}) });
  if (cluster.isWorker) log.info({ pid: process.pid, worker: cluster.worker?.id }, 'worker serving');
  flushAllLogsSync();
  if (stopping) {
    stopping = false;
    stop('SIGTERM');
  } else if (reloadPending) {
    reload();
  }
}
