/**
 * The admin listener (server.admin_port) when node:cluster workers share the public port.
 *
 * Workers could share the admin port the way they share the public one, but each scrape would
 * then reach one worker at random and show that worker's counters alone: Prometheus would see
 * counters jump between workers and read every jump as a reset. So the primary serves the admin
 * port for all of them:
 *
 *   /metrics   every worker's registry, summed (prom-client's AggregatorRegistry over the
 *              cluster IPC channel; gauges and process metrics by their own aggregators)
 *   /readyz    ready when every live worker answers, within a second and a half, that it is
 *              ready; the body lists each worker's report
 *   /healthz   the primary is alive (it restarts workers that die)
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer, type Server } from 'node:http';
import { AggregatorRegistry } from 'prom-client';
import { DEFAULT_ADMIN_HOST } from '../../config/schema.js';
import type { ServerConfig } from '../../config/types.js';
import type { GatewayMetrics } from './metrics.js';
import { adminRequestListener, sendJson, sendText, type ReadinessReport } from './operations.js';

const READINESS_REQUEST = 'fhirgw:readiness-request';
const READINESS_ANSWER = 'fhirgw:readiness';
/** Each worker's own readiness check waits up to 1 s for the store and the upstream. */
const WORKER_ANSWER_TIMEOUT_MS = 1_500;

interface ReadinessRequest {
  type: typeof READINESS_REQUEST;
  id: number;
}

/** A worker's readiness; before its gateway exists, only that it is starting. */
type WorkerReport = ReadinessReport | { ready: false; starting: true };

interface ReadinessAnswer {
  type: typeof READINESS_ANSWER;
  id: number;
  report: WorkerReport;
}

/** One worker in the primary's /readyz: its report, or that it did not answer in time. */
type WorkerReadiness = { worker: number; pid: number | undefined } & (WorkerReport | { ready: false; answered: false });

// ---------------------------------------------------------------------------------------
// Primary
// ---------------------------------------------------------------------------------------

/** Listens on server.admin_port in the cluster primary; rejects when the port cannot be had. */
export async function serveClusterAdmin(server: ServerConfig, log: { error(obj: object, msg: string): void }): Promise<Server> {
  const aggregator = new AggregatorRegistry();
  const listener = adminRequestListener(async (req, res, path) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' }, { Allow: 'GET, HEAD' });
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const workers = await clusterReadiness();
      const ready = workers.length > 0 && workers.every((worker) => worker.ready);
      return sendJson(res, ready ? 200 : 503, { ready, workers });
    }
    let text: string;
    try {
      text = await aggregator.clusterMetrics();
    } catch (err) {
      // A worker did not answer within prom-client's 5 s: no partial sums that would look like resets.
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'metrics of the workers could not be collected');
      return sendJson(res, 503, { error: 'metrics of the workers could not be collected' });
    }
    return sendText(res, 200, text, aggregator.contentType);
  }, log);
  const admin = createServer(listener);
  const host = server.admin_host ?? DEFAULT_ADMIN_HOST;
  await new Promise<void>((resolve, reject) => {
    admin.once('error', (err) => reject(new Error(`the admin listener (server.admin_port) cannot listen on ${host}:${server.admin_port}: ${err.message}`)));
    admin.listen(server.admin_port, host, () => resolve());
  });
  return admin;
}

let nextRequestId = 0;

function clusterReadiness(): Promise<WorkerReadiness[]> {
  const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && worker.isConnected());
  return Promise.all(workers.map(askWorker));
}

function askWorker(worker: Worker): Promise<WorkerReadiness> {
  const id = nextRequestId++;
  const who = { worker: worker.id, pid: worker.process.pid };
  return new Promise((resolve) => {
    const finish = (answer: WorkerReadiness) => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      resolve(answer);
    };
    const onMessage = (message: unknown) => {
      if (isAnswer(message) && message.id === id) finish({ ...who, ...message.report });
    };
    const timer = setTimeout(() => finish({ ...who, ready: false, answered: false }), WORKER_ANSWER_TIMEOUT_MS);
    worker.on('message', onMessage);
    const request: ReadinessRequest = { type: READINESS_REQUEST, id };
    // A worker exiting right now cannot take the message: it counts as not answering.
    worker.send(request, (err: Error | null) => err && finish({ ...who, ready: false, answered: false }));
  });
}

function isAnswer(message: unknown): message is ReadinessAnswer {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === READINESS_ANSWER;
}

// ---------------------------------------------------------------------------------------
// Worker
// ---------------------------------------------------------------------------------------

/**
 * In a worker: answers the primary's metrics and readiness requests. Installed before the
 * gateway starts, so a starting worker answers "starting" instead of holding up every scrape.
 */
export function answerClusterAdmin(metrics: GatewayMetrics, readiness: () => (() => Promise<ReadinessReport>) | undefined): void {
  // prom-client answers the primary's metrics requests with the registries named here.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([metrics.registry]);
  process.on('message', (message: unknown) => {
    if (typeof message !== 'object' || message === null || (message as { type?: unknown }).type !== READINESS_REQUEST) return;
    const { id } = message as ReadinessRequest;
    const check = readiness();
    const pending: Promise<WorkerReport> = check ? check() : Promise.resolve({ ready: false, starting: true });
    void pending
      .catch((): WorkerReport => ({ ready: false, store: 'unreachable', upstream: 'unreachable' }))
      .then((report) => {
        const answer: ReadinessAnswer = { type: READINESS_ANSWER, id, report };
        if (process.connected) process.send?.(answer);
      });
  });
}
