/**
 * One measured round: autocannon for warm-up + measure seconds; only responses that complete
 * after the warm-up count. Latency percentiles are computed here from autocannon's per-response
 * times (sub-millisecond resolution), not from its integer-millisecond histogram.
 */
import { performance } from 'node:perf_hooks';
import autocannon, { type AutocannonRequest } from 'autocannon';

export interface LoadSpec {
  url: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Called before every request; return the header set to send (e.g. a rotated Authorization). */
  rotate?: () => Record<string, string>;
  connections: number;
  warmupSeconds: number;
  measureSeconds: number;
}

export interface RoundResult {
  /** 2xx responses per second over the measured window. */
  rps: number;
  p50: number;
  p99: number;
  /** Responses (any status) over the whole run, warm-up included: the denominator for store counters. */
  totalResponses: number;
  measuredOk: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export function runLoad(spec: LoadSpec): Promise<RoundResult> {
  const request: AutocannonRequest = {
    method: spec.method ?? 'GET',
    path: spec.path,
    ...(spec.headers ? { headers: spec.headers } : {}),
    ...(spec.body !== undefined ? { body: spec.body } : {}),
  };
  if (spec.rotate) {
    const rotate = spec.rotate;
    const base = spec.headers ?? {};
    request.setupRequest = (req) => {
      req.headers = { ...base, ...rotate() };
      return req;
    };
  }
  return new Promise((resolve, reject) => {
    let latencies = new Float64Array(1 << 16);
    let n = 0;
    let totalResponses = 0;
    const statusCodes: Record<string, number> = {};
    const started = performance.now();
    const warmupEnd = started + spec.warmupSeconds * 1000;
    const hardStop = setTimeout(() => instance.stop(), (spec.warmupSeconds + spec.measureSeconds + 15) * 1000);
    const instance = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        duration: spec.warmupSeconds + spec.measureSeconds,
        timeout: 10,
        requests: [request],
        renderProgressBar: false,
        renderResultsTable: false,
        renderLatencyTable: false,
      },
      (err, result) => {
        clearTimeout(hardStop);
        if (err) {
          reject(err);
          return;
        }
        const finished = performance.now();
        const window = (finished - Math.min(warmupEnd, finished)) / 1000;
        const sorted = latencies.subarray(0, n).sort();
        const r3 = (x: number) => Math.round(x * 1000) / 1000;
        resolve({
          rps: window > 0 ? Math.round((n / window) * 10) / 10 : 0,
          p50: r3(percentile(sorted, 50)),
          p99: r3(percentile(sorted, 99)),
          totalResponses,
          measuredOk: n,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          statusCodes,
        });
      },
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      totalResponses++;
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      if (statusCode < 200 || statusCode > 299) return;
      const now = performance.now();
      if (now < warmupEnd) return;
      if (n === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[n++] = responseTime;
    });
  });
}
