/** Medians, ratios, targets, the printed table and the JSON written to bench/results/latest.json. */
import { cpus, platform, release, totalmem } from 'node:os';
import type { RoundResult } from './load.js';

export type RowId = 'a' | 'b' | 'b2' | 'c' | 'c2' | 'd' | 'e' | 'e2' | 'f' | 'f2' | 'token';

/** Each row's ratio is to the bare proxy doing the same request: a search to (b2), everything else to (b). */
export function baselineOf(id: RowId): RowId {
  return id === 'c2' || id === 'e2' || id === 'f2' ? 'b2' : 'b';
}

export interface RoundRecord extends RoundResult {
  round: number;
  /** Redis commands per response over the whole run (Redis rows only). */
  redisCmdsPerRequest?: number;
  redisByCommand?: Record<string, number>;
  /** CPU time the server process (the one under test, not the upstream) spent per response, in µs. */
  serverCpuUsPerRequest?: number;
}

export interface RowReport {
  id: RowId;
  label: string;
  unit: 'req/s' | 'tokens/s';
  skipped?: string;
  rounds: RoundRecord[];
  median?: { rps: number; p50: number; p99: number; redisCmdsPerRequest?: number; serverCpuUsPerRequest?: number; non2xx: number; errors: number };
  /** Median over rounds of (this row's req/s / its baseline's req/s in the same round): (b), or (b2) for searches. */
  ratioToB?: number;
}

export interface RssReport {
  skipped?: string;
  /** Which gateway store the long runs used. */
  store?: string;
  tokens: number;
  shortSeconds: number;
  longSeconds: number;
  /** Bytes, sampled after a forced GC in the gateway child. */
  beforeRss?: number;
  afterShortRss?: number;
  afterLongRss?: number;
  afterShortHeap?: number;
  afterLongHeap?: number;
  shortRps?: number;
  longRps?: number;
  changePercent?: number;
}

export interface Target {
  name: string;
  target: string;
  value: string;
  pass: boolean | null;
}

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function summarize(rows: RowReport[]): void {
  for (const row of rows) {
    const b = rows.find((r) => r.id === baselineOf(row.id));
    if (row.rounds.length === 0) continue;
    const pick = (f: (r: RoundRecord) => number | undefined) => {
      const vals = row.rounds.map(f).filter((x): x is number => x !== undefined);
      return vals.length ? median(vals) : undefined;
    };
    const redis = pick((r) => r.redisCmdsPerRequest);
    const cpu = pick((r) => r.serverCpuUsPerRequest);
    row.median = {
      rps: median(row.rounds.map((r) => r.rps)),
      p50: median(row.rounds.map((r) => r.p50)),
      p99: median(row.rounds.map((r) => r.p99)),
      ...(redis !== undefined ? { redisCmdsPerRequest: redis } : {}),
      ...(cpu !== undefined ? { serverCpuUsPerRequest: cpu } : {}),
      non2xx: row.rounds.reduce((s, r) => s + r.non2xx, 0),
      errors: row.rounds.reduce((s, r) => s + r.errors, 0),
    };
    if (b && b !== row && row.unit === 'req/s' && b.rounds.length) {
      const ratios = row.rounds
        .map((r) => {
          const base = b.rounds.find((x) => x.round === r.round);
          return base && base.rps > 0 ? r.rps / base.rps : NaN;
        })
        .filter(Number.isFinite);
      if (ratios.length) row.ratioToB = median(ratios);
    }
  }
}

export function evaluateTargets(rows: RowReport[], rss: RssReport, trips: { withLimit: number | undefined; withoutLimit: number | undefined }): Target[] {
  const get = (id: RowId) => rows.find((r) => r.id === id);
  const ratio = (id: RowId, min: number, what: string): Target => {
    const r = get(id)?.ratioToB;
    return { name: `(${id})/(${baselineOf(id)}) req/s, ${what}`, target: `>= ${min.toFixed(1)}`, value: r === undefined ? 'n/a' : r.toFixed(2), pass: r === undefined ? null : r >= min };
  };
  const targets = [ratio('c', 1.0, 'read'), ratio('c2', 0.8, 'search'), ratio('d', 0.6, 'read'), ratio('e', 1.1, 'read')];
  const c = get('c')?.median;
  const b = get('b')?.median;
  const p99Diff = c && b ? c.p99 - b.p99 : undefined;
  targets.push({
    name: 'p99 (c) - p99 (b)',
    target: '<= 1.00 ms',
    value: p99Diff === undefined ? 'n/a' : `${p99Diff.toFixed(2)} ms`,
    pass: p99Diff === undefined ? null : p99Diff <= 1,
  });
  const tok = get('token')?.median?.rps;
  targets.push({ name: 'token endpoint', target: '>= 3000 tokens/s', value: tok === undefined ? 'n/a' : `${Math.round(tok)} tokens/s`, pass: tok === undefined ? null : tok >= 3000 });
  const change = rss.changePercent;
  targets.push({
    name: `RSS after ${rss.longSeconds}s vs after ${rss.shortSeconds}s`,
    // A leak shows as growth; memory handed back after the warm-up is no failure.
    target: 'grows <= 10 %',
    value: change === undefined ? 'n/a' : `${change >= 0 ? '+' : ''}${change.toFixed(1)} %`,
    pass: change === undefined ? null : change <= 10,
  });
  const trip = (name: string, value: number | undefined, max: number): Target => ({
    name,
    target: `<= ${max}`,
    value: value === undefined ? 'n/a' : value.toFixed(2),
    pass: value === undefined ? null : value <= max,
  });
  targets.push(trip('Redis round trips, per-client limit', trips.withLimit, 1), trip('Redis round trips, no per-client limit', trips.withoutLimit, 0));
  return targets;
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(2));
const mb = (x: number | undefined) => (x === undefined ? '-' : `${(x / 1024 / 1024).toFixed(1)} MB`);

export function renderTable(rows: RowReport[], rss: RssReport, targets: Target[], notes: string[]): string {
  const header = ['row', 'what', 'req/s*', 'p50 ms', 'p99 ms', 'x (b)', 'redis cmd/req', 'srv CPU us/req', 'non-2xx'];
  const widths = [7, 52, 9, 8, 8, 7, 13, 14, 8];
  const lines: string[] = [];
  const fmt = (cells: string[]) => cells.map((c, i) => (i < 2 ? pad(c, widths[i]!) : lpad(c, widths[i]!))).join('  ');
  lines.push(fmt(header));
  lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) {
    if (row.skipped || !row.median) {
      lines.push(fmt([`(${row.id})`, row.label, '-', '-', '-', '-', '-', '-', '-']) + `   skipped: ${row.skipped ?? 'no data'}`);
      continue;
    }
    const m = row.median;
    lines.push(
      fmt([
        `(${row.id})`,
        row.label,
        String(Math.round(m.rps)),
        ms(m.p50),
        ms(m.p99),
        row.ratioToB === undefined ? '-' : row.ratioToB.toFixed(2),
        m.redisCmdsPerRequest === undefined ? '-' : m.redisCmdsPerRequest.toFixed(2),
        m.serverCpuUsPerRequest === undefined ? '-' : String(Math.round(m.serverCpuUsPerRequest)),
        String(m.non2xx + m.errors),
      ]),
    );
  }
  lines.push('* tokens/s for the token endpoint row; x (b) = this row / the bare proxy doing the same request ((b) for reads, (b2) for searches), median of the per-round ratios');
  lines.push('');
  if (rss.skipped) {
    lines.push(`RSS: skipped: ${rss.skipped}`);
  } else {
    lines.push(
      `Gateway RSS (${rss.store} store, ${rss.tokens} tokens in rotation, after GC): before ${mb(rss.beforeRss)}; ` +
        `after ${rss.shortSeconds}s run ${mb(rss.afterShortRss)} (${Math.round(rss.shortRps ?? 0)} req/s); ` +
        `after a further ${rss.longSeconds}s run ${mb(rss.afterLongRss)} (${Math.round(rss.longRps ?? 0)} req/s); heap ${mb(rss.afterShortHeap)} -> ${mb(rss.afterLongHeap)}`,
    );
  }
  lines.push('');
  lines.push('Targets (same run):');
  for (const t of targets) {
    const verdict = t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'FAIL';
    lines.push(`  ${verdict}  ${pad(t.name, 42)} ${pad(t.target, 18)} measured ${t.value}`);
  }
  if (notes.length) {
    lines.push('');
    for (const n of notes) lines.push(`note: ${n}`);
  }
  return lines.join('\n');
}

export function machineInfo(extra: Record<string, unknown> = {}) {
  const cpuList = cpus();
  return {
    cpu_model: cpuList[0]?.model ?? 'unknown',
    cores: cpuList.length,
    node: process.version,
    platform: `${platform()} ${release()}`,
    total_memory_gb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    date: new Date().toISOString(),
    ...extra,
  };
}
